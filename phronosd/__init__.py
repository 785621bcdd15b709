"""phronosd: runs solutions against their test suites in hardened containers and measures them."""
