//! Redaction of caller identity for logs and call records.
//!
//! Caller numbers are personal data: logs and records carry a masked form that lets an operator
//! recognise a number they already know (country prefix and last two digits) but not read it.

/// Masks a phone number: keeps a leading `+` and the first three digits and the last two,
/// replacing every other digit with `*`. Short numbers (service numbers such as `95017`) are
/// not personal and stay readable; anything that is not a plain number is fully masked.
pub fn mask_number(number: &str) -> String {
    let trimmed = number.trim();
    let digits: Vec<char> = trimmed.chars().filter(char::is_ascii_digit).collect();
    let plain = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || "+-() ".contains(c));
    if !plain || digits.is_empty() {
        return "***".to_owned();
    }
    if digits.len() <= 6 {
        return digits.iter().collect();
    }
    let plus = if trimmed.starts_with('+') { "+" } else { "" };
    let keep_tail = 2;
    let keep_head = 3;
    let masked: String = digits
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i < keep_head || i >= digits.len() - keep_tail {
                c
            } else {
                '*'
            }
        })
        .collect();
    format!("{plus}{masked}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_keep_only_prefix_and_tail() {
        assert_eq!(mask_number("+8613812345678"), "+861********78");
        assert_eq!(mask_number("0755-83765566"), "075*******66");
    }

    #[test]
    fn service_numbers_stay_readable_and_junk_is_hidden() {
        assert_eq!(mask_number("95017"), "95017");
        assert_eq!(mask_number("sip:alice@example.com"), "***");
        assert_eq!(mask_number(""), "***");
    }
}
