// Package warmup is built at image build time only, to fill the Go build cache with what every
// test binary needs (the standard library is built separately with `go build std`).
package warmup

// Double returns twice n.
func Double(n int) int { return 2 * n }
