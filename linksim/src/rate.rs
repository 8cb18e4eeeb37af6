//! Bandwidth as people write it: `3M`, `3mbit`, `500k`, `750kbit`, `2000000`.

/// Parses a rate in bits per second; `k`/`M`/`G` are powers of 1000, an optional `bit` or `bps`
/// suffix is accepted. `0` means uncapped.
pub fn parse_rate_bps(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number_part = lower
        .strip_suffix("bit")
        .or_else(|| lower.strip_suffix("bps"))
        .unwrap_or(&lower);
    let (digits, scale) = match number_part.chars().last() {
        Some('k') => (&number_part[..number_part.len() - 1], 1e3),
        Some('m') => (&number_part[..number_part.len() - 1], 1e6),
        Some('g') => (&number_part[..number_part.len() - 1], 1e9),
        _ => (number_part, 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a rate like 3M, 500k or 2000000 (bits per second)")
    })?;
    if !value.is_finite() || value < 0.0 || value * scale > 1e12 {
        return Err(format!(
            "{text:?} is out of range (0 to 1000G bits per second)"
        ));
    }
    Ok((value * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate_bps("3M"), Ok(3_000_000));
        assert_eq!(parse_rate_bps("3mbit"), Ok(3_000_000));
        assert_eq!(parse_rate_bps("1.5Mbps"), Ok(1_500_000));
        assert_eq!(parse_rate_bps("500k"), Ok(500_000));
        assert_eq!(parse_rate_bps("2000000"), Ok(2_000_000));
        assert_eq!(parse_rate_bps("0"), Ok(0));
        assert!(parse_rate_bps("fast").is_err());
        assert!(parse_rate_bps("-3M").is_err());
        assert!(parse_rate_bps("").is_err());
    }
}
