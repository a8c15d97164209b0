# Convenience recipes. Each is a plain command you can also type yourself:
# `just` is never required (install it with `cargo install just`).

# The main job, with any arguments: `just run --help`
run *ARGS:
    cargo run --release -- {{ARGS}}

# Replay the recorded traces through every contender: `just trace --algo slab-tlsf`
trace *ARGS:
    cargo run --release -- --trace tests/traces/*.vglog {{ARGS}}

# Every test: unit tests on the host, integration tests on the real binary
test:
    cargo test

# gdb on the debug binary: no [heap] at the first instruction, a [heap] after
# the first brk, then the prompt with tmalloc's heap commands loaded
gdb *ARGS:
    cargo build
    gdb -q -x gdb/tmalloc.gdb --args target/debug/tmalloc {{ARGS}}

# Program headers and sections of the release binary
readelf:
    cargo build --release
    readelf -Wl target/release/tmalloc
    readelf -WS target/release/tmalloc

# Size and start-up time of the release binary
startup:
    cargo bench --bench startup

# What CI runs
ci:
    bash .ci/run

# Every policy and the peer allocators on every workload: target/bench/
bench *ARGS:
    cargo run --profile perf -p tmalloc-bench -- {{ARGS}}
