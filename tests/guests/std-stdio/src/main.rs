//! C stdio as C code uses it (FILE streams, printf, scanf), called through
//! `extern "C"` declarations, printing every answer: run natively against
//! glibc it prints exactly what it prints under Kiln.

#[macro_use]
mod c;
mod console;
mod files;
mod format;
mod from_c;
mod scan;

fn main() {
    format::run();
    scan::run();
    files::run();
    from_c::run();
    console::run();
}
