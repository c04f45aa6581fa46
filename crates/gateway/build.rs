//! `sqlx::migrate!` reads the migration folders when the crate compiles; cargo only
//! knows to compile again when a file it embedded changes, not when a migration is added.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/gateway-sqlite");
    println!("cargo:rerun-if-changed=../../migrations/gateway-postgres");
}
