//! ring: digests, HMAC, HKDF, PBKDF2, ChaCha20-Poly1305 and AES-GCM with
//! fixed keys, Ed25519 from a fixed seed (deterministic signatures), and the
//! system random source.
use ring::{aead, digest, hkdf, hmac, pbkdf2, rand, signature};
use std::num::NonZeroU32;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn seal(algorithm: &'static aead::Algorithm, key: &[u8]) {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(algorithm, key).expect("key"));
    let nonce = || aead::Nonce::assume_unique_for_key([7u8; 12]);
    let mut in_out = b"attack at dawn".to_vec();
    key.seal_in_place_append_tag(nonce(), aead::Aad::from(b"header"), &mut in_out)
        .expect("seal");
    println!("{algorithm:?} sealed {}", hex(&in_out));
    let opened = key
        .open_in_place(nonce(), aead::Aad::from(b"header"), &mut in_out)
        .expect("open");
    println!("opened {:?}", String::from_utf8_lossy(opened));
    let mut tampered = in_out.clone();
    tampered[0] ^= 1;
    println!(
        "tampered: {:?}",
        key.open_in_place(nonce(), aead::Aad::empty(), &mut tampered)
            .err()
    );
}

fn main() {
    println!(
        "sha256 {}",
        hex(digest::digest(&digest::SHA256, b"kiln").as_ref())
    );
    println!(
        "sha512 {}",
        hex(digest::digest(&digest::SHA512, b"kiln").as_ref())
    );
    let mut context = digest::Context::new(&digest::SHA384);
    for _ in 0..10_000 {
        context.update(b"0123456789");
    }
    println!("sha384 of 100k {}", hex(context.finish().as_ref()));

    let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
    let tag = hmac::sign(&key, b"message");
    println!("hmac {}", hex(tag.as_ref()));
    println!(
        "hmac verifies {}",
        hmac::verify(&key, b"message", tag.as_ref()).is_ok()
    );

    let mut okm = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"salt")
        .extract(b"input key material")
        .expand(&[b"info"], hkdf::HKDF_SHA256)
        .expect("expand")
        .fill(&mut okm)
        .expect("fill");
    println!("hkdf {}", hex(&okm));
    let mut derived = [0u8; 32];
    let rounds = NonZeroU32::new(10_000).expect("rounds");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        b"salt",
        b"password",
        &mut derived,
    );
    println!("pbkdf2 {}", hex(&derived));

    seal(&aead::CHACHA20_POLY1305, &[1u8; 32]);
    seal(&aead::AES_256_GCM, &[2u8; 32]);

    let pair = signature::Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).expect("seed");
    let signed = pair.sign(b"signed message");
    println!("ed25519 signature {}", hex(signed.as_ref()));
    let public = signature::UnparsedPublicKey::new(
        &signature::ED25519,
        signature::KeyPair::public_key(&pair),
    );
    println!(
        "verifies {}",
        public.verify(b"signed message", signed.as_ref()).is_ok()
    );
    println!(
        "wrong message {}",
        public.verify(b"other", signed.as_ref()).is_ok()
    );

    let random = rand::SystemRandom::new();
    let generated: [u8; 32] = rand::generate(&random).expect("random").expose();
    println!(
        "random bytes not all zero {}",
        generated.iter().any(|&b| b != 0)
    );
}
