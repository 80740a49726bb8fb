# Conveniences; the scripts are what matter (see README).

# Run the chitin CLI, e.g. `just chitin skill tools skills/files`
chitin *ARGS:
    scripts/chitin {{ARGS}}

# Start the agent daemon (API + web chat on 127.0.0.1:7878)
daemon *ARGS:
    scripts/chitin daemon {{ARGS}}

# The whole test suite (what CI runs)
test:
    scripts/test

# Build the first-party skills
skills:
    scripts/build-skills

# Benchmarks (see BENCHMARKS.md)
bench:
    scripts/build-skills && cargo bench -p chitin --profile dev --bench calls --bench agent --bench daemon
