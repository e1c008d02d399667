"""Running the project's own processes against the local stack and reading their metrics:
shared by the tests, the benchmarks and the chaos run (none of them imports the others)."""
