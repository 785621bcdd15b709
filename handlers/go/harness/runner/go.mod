module phronosd.invalid/runner

go 1.24
