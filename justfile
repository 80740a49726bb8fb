# Conveniences; the scripts are what matter (see README).

# Run the chitin CLI, e.g. `just chitin skill tools skills/files`
chitin *ARGS:
    scripts/chitin {{ARGS}}

# The whole test suite (what CI runs)
test:
    scripts/test

# Build the first-party skills
skills:
    scripts/build-skills

# Benchmarks (see BENCHMARKS.md)
bench:
    scripts/build-skills && cargo bench -p chitin --profile dev --bench calls
