//! `sqlx::migrate!` embeds the files it finds, but the compiler only watches those files: a new
//! migration would not trigger a rebuild. Watching the folder fixes that.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
