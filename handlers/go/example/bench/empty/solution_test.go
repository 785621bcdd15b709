package solution

import "testing"

func TestEmpty(t *testing.T) {}
