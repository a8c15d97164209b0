//! Link the freestanding binary, and only it: no crt1, no libc, no dynamic
//! loader, a fixed load address, and our own segment layout (`linker.ld`).
//! `rustc-link-arg-bins` keeps these flags away from the host test executables,
//! which are ordinary programs linked against std.

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        eprintln!("tmalloc targets x86_64 Linux only; this target is {arch}-{os}");
        std::process::exit(1);
    }

    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/linker.ld");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");

    for arg in [
        "-nostartfiles", // no crt1.o / crti.o: our `_start` is the entry point
        "-nostdlib",     // no libc, no libgcc_s
        "-static",       // no PT_INTERP, no PT_DYNAMIC
        "-no-pie",       // a fixed address, as linker.ld says (overrides rustc's -pie)
        &format!("-Wl,-T,{script}"),
        "-Wl,--build-id=none", // nothing the program reads; keeps the headers minimal
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
