//! Provider ids shaped like AWS's, drawn deterministically from a counter.
//!
//! Real ids look random; ours are a counter scrambled by splitmix64, so that they
//! look like AWS's (a test that slices an ARN meets the same shape) yet every run
//! of a test sees the same ones.

/// splitmix64, the model's one copy (also the seed expander of
/// [`crate::faults`]'s generator).
pub(crate) use convox_model::aws::splitmix64;

/// `len` lowercase hex digits from `seed`.
pub(crate) fn hex(seed: u64, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut n = 0u64;
    while out.len() < len {
        out.push_str(&format!(
            "{:016x}",
            splitmix64(seed ^ n.wrapping_mul(0xA5A5))
        ));
        n += 1;
    }
    out.truncate(len);
    out
}

/// `len` decimal digits from `seed`, not starting with 0.
pub(crate) fn digits(seed: u64, len: usize) -> String {
    let mut s: String = hex(seed, len * 2)
        .bytes()
        .map(|b| char::from(b'0' + (b % 10)))
        .take(len)
        .collect();
    if s.starts_with('0') {
        s.replace_range(0..1, "1");
    }
    s
}

/// A Route53 hosted zone id: `Z` and 20 upper-case letters and digits.
pub(crate) fn zone_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut x = splitmix64(seed);
    let mut y = splitmix64(x);
    let mut s = String::from("Z");
    for i in 0..20 {
        let src = if i < 10 { &mut x } else { &mut y };
        s.push(char::from(ALPHABET[(*src % 36) as usize]));
        *src /= 36;
    }
    s
}

/// An ACM certificate id: a UUID's shape.
pub(crate) fn uuid(seed: u64) -> String {
    let h = hex(seed, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The canonical hosted zone id of application load balancers in `region`
/// (what an alias record to an ALB names), from AWS's published table.
pub fn alb_canonical_zone_id(region: &str) -> &'static str {
    match region {
        "us-east-1" => "Z35SXDOTRQ7X7K",
        "us-east-2" => "Z3AADJGX6KTTL2",
        "us-west-1" => "Z368ELLRRE2KJ0",
        "us-west-2" => "Z1H1FL5HABSF5",
        "ca-central-1" => "ZQSVJUPU6J1EY",
        "eu-west-1" => "Z32O12XQLNTSW2",
        "eu-west-2" => "ZHURV8PSTC4K8",
        "eu-west-3" => "Z3Q77PNBQS71R4",
        "eu-central-1" => "Z215JYRZR1TBD5",
        "eu-north-1" => "Z23TAZ7KRDRVCJ",
        "ap-south-1" => "ZP97RAFLXTNZK",
        "ap-northeast-1" => "Z14GRHDCWA56QT",
        "ap-northeast-2" => "ZWKZPGTI48KDX",
        "ap-southeast-1" => "Z1LMS91P8CMLE5",
        "ap-southeast-2" => "Z1GM3OXH4ZPM65",
        "sa-east-1" => "Z2P70J7HTTTPLU",
        // An unknown region still gets a stable, well-formed id.
        _ => "Z00MOCKREGION00",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes_and_are_stable() {
        assert_eq!(hex(7, 17).len(), 17);
        assert!(
            hex(7, 17)
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Stable across versions: a saved state's ids are drawn the same way.
        assert_eq!(hex(7, 16), "63cbe1e459320dd7");
        assert_eq!(uuid(1), "910a2dec-8902-5cc1-a2dc-9d8c3ecf941b");
        assert_ne!(hex(7, 16), hex(8, 16));
        let z = zone_id(3);
        assert_eq!(z.len(), 21);
        assert!(z.starts_with('Z'));
        assert_eq!(uuid(1).len(), 36);
        let d = digits(9, 10);
        assert_eq!(d.len(), 10);
        assert!(d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'));
    }
}
