//! Which flow answers a dialled number.
//!
//! The rule, for mainland China numbering (country code 86, trunk prefix 0):
//!
//! 1. Keep only digits (spaces, dashes and `+` are dropped) and look the result up as
//!    written in a flow's `numbers:` (digits only).
//! 2. Otherwise compare *national significant numbers*: a number written with `+86` or
//!    `0086` loses that prefix, and a national number loses one leading trunk `0`. So
//!    `+86 755 83765566`, `075583765566` and `0755-83765566` are one number, and `95017`
//!    matches a flow that lists `+8695017`.
//!
//! Pure functions; no I/O.

use std::sync::Arc;

use crate::flow::model::{Flow, FlowSet};

/// The country code whose numbers are compared in national form.
pub const HOME_COUNTRY_CODE: &str = "86";

/// The national significant number of a written or dialled number (see the module docs).
pub fn canonical_number(s: &str) -> String {
    let trimmed = s.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let international = if trimmed.starts_with('+') {
        Some(digits.as_str())
    } else {
        digits.strip_prefix("00")
    };
    if let Some(rest) = international {
        return match rest.strip_prefix(HOME_COUNTRY_CODE) {
            Some(national) => national.strip_prefix('0').unwrap_or(national).to_owned(),
            // Another country: keep it international so it never matches a national number.
            None => format!("+{rest}"),
        };
    }
    digits.strip_prefix('0').unwrap_or(&digits).to_owned()
}

impl FlowSet {
    /// The flow answering `dialled`, by the rule in the module docs.
    pub fn route(&self, dialled: &str) -> Option<&Arc<Flow>> {
        let digits: String = dialled.chars().filter(char::is_ascii_digit).collect();
        if let Some(&i) = self.by_number.get(&digits) {
            return self.flows.get(i);
        }
        let wanted = canonical_number(dialled);
        if wanted.is_empty() {
            return None;
        }
        self.flows
            .iter()
            .find(|f| f.numbers.iter().any(|n| canonical_number(n) == wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_are_one_number() {
        assert_eq!(canonical_number("0755-83765566"), "75583765566");
        assert_eq!(canonical_number("+86 755 83765566"), "75583765566");
        assert_eq!(canonical_number("0086 755 8376 5566"), "75583765566");
        assert_eq!(canonical_number("075583765566"), "75583765566");
        assert_eq!(canonical_number("+8695017"), "95017");
        assert_eq!(canonical_number("95017"), "95017");
        assert_eq!(canonical_number("400-670-0700"), "4006700700");
    }

    #[test]
    fn foreign_numbers_never_match_national_ones() {
        assert_eq!(canonical_number("+1 95017"), "+195017");
        assert_ne!(canonical_number("+195017"), canonical_number("95017"));
    }
}
