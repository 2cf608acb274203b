//! A small, fast, per-thread pseudo-random source (xorshift64*) for load-balancer choices,
//! fault percentages and request ids. Not cryptographic: nothing here needs to be
//! unpredictable, only evenly spread and cheap on the request path.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let local = 0u8;
    let addr = std::ptr::addr_of!(local) as u64;
    let mixed = nanos ^ addr.rotate_left(32) ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    mixed | 1
}

/// The next 64 random bits.
pub fn next_u64() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A number in `0..n` (0 when `n` is 0).
pub fn below(n: u64) -> u64 {
    if n == 0 { 0 } else { ((u128::from(next_u64()) * u128::from(n)) >> 64) as u64 }
}

/// A random (version 4) UUID in its textual form, as Envoy generates `x-request-id`. Written
/// digit by digit: every request makes one, and `format!` with padded hex cost ~1% of a
/// request (bench/proxy).
pub fn uuid_v4() -> String {
    let (a, b) = (next_u64(), next_u64());
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let bits = (u128::from(a) << 64) | u128::from(b);
    let mut out = [0u8; 36];
    let mut nibble = 32;
    for (i, c) in out.iter_mut().enumerate() {
        *c = if matches!(i, 8 | 13 | 18 | 23) {
            b'-'
        } else {
            nibble -= 1;
            b"0123456789abcdef"[((bits >> (nibble * 4)) & 0xF) as usize]
        };
    }
    // Only ASCII hex digits and dashes were written.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_spreads() {
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[below(4) as usize] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
        assert_eq!(below(0), 0);
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        let reference = |a: u64, b: u64| {
            format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xFFFF,
                a & 0xFFFF,
                b >> 48,
                b & 0xFFFF_FFFF_FFFF
            )
        };
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
        // Same layout as the `format!` it replaced.
        let a = u64::from_str_radix(&id[..18].replace('-', ""), 16).expect("hex");
        let b = u64::from_str_radix(&id[19..].replace('-', ""), 16).expect("hex");
        assert_eq!(reference(a, b), id);
    }
}
