//! Password hashing: argon2 (RustCrypto) and bcrypt with fixed salts, so
//! the hashes are the same on every run, plus verification both ways.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let params = Params::new(19 * 1024, 2, 1, None).expect("params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").expect("salt");
    let hash = argon2
        .hash_password(b"correct horse", &salt)
        .expect("hash")
        .to_string();
    println!("argon2id {hash}");
    let parsed = PasswordHash::new(&hash).expect("parse");
    println!(
        "verifies {}",
        argon2.verify_password(b"correct horse", &parsed).is_ok()
    );
    println!(
        "wrong password {:?}",
        argon2.verify_password(b"battery staple", &parsed).err()
    );
    let mut raw = [0u8; 16];
    Argon2::default()
        .hash_password_into(b"pw", b"saltsaltsalt", &mut raw)
        .expect("raw");
    println!("raw {raw:02x?}");

    let salt = *b"0123456789abcdef";
    let parts = bcrypt::hash_with_salt("hunter2", 8, salt).expect("bcrypt");
    let hashed = parts.format_for_version(bcrypt::Version::TwoB);
    println!("bcrypt {hashed}");
    println!("verifies {:?}", bcrypt::verify("hunter2", &hashed));
    println!("wrong {:?}", bcrypt::verify("hunter3", &hashed));
    println!("bad hash {:?}", bcrypt::verify("x", "$2b$08$short"));
    let fresh = bcrypt::hash("random salt", 4).expect("fresh");
    println!(
        "fresh hash verifies {:?}",
        bcrypt::verify("random salt", &fresh)
    );
}
