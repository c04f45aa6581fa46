//! How an Asterisk call ended, in our terms: the Q.850 cause of a `Hangup` event and the
//! `DialStatus` of a `DialEnd` (protocols.md §3.4, §3.5) become a [`CallError`], or none
//! for a normal end. The PBX's own words stay on the error: the cause number as the
//! provider code, `Cause-txt` as the provider message.

use switchboard_core::{CallError, CallErrorCode};

/// What an end with this cause means for the caller, or `None` for a call that simply
/// ended (normal clearing, answered elsewhere).
pub fn cause_code(cause: u16) -> Option<CallErrorCode> {
    Some(match cause {
        16 | 26 | 31 => return None,
        // The phone rang or was engaged, and nobody took the call.
        17 => CallErrorCode::Busy,
        18..=20 => CallErrorCode::NoAnswer,
        21 => CallErrorCode::Rejected,
        // A number that cannot be reached as dialled.
        1 | 3 | 22 | 28 => CallErrorCode::InvalidNumber,
        // The network or the PBX could not carry it now.
        27 | 34 | 38 | 41 | 42 | 44 => CallErrorCode::Unavailable,
        52 | 54 | 50 | 57 => CallErrorCode::Rejected,
        102 => CallErrorCode::Timeout,
        _ => CallErrorCode::ProviderError,
    })
}

/// The error of a `Hangup` with `Cause` and `Cause-txt`; `None` for a normal end. A cause
/// that is not a number is kept as the PBX gave it, as an unknown end.
pub fn hangup_error(cause: Option<&str>, cause_txt: Option<&str>) -> Option<CallError> {
    let raw = cause.map(str::trim).filter(|c| !c.is_empty())?;
    let code = match raw.parse::<u16>() {
        Ok(n) => cause_code(n)?,
        Err(_) => CallErrorCode::Unknown,
    };
    let text = cause_txt.map(str::trim).filter(|t| !t.is_empty());
    let mut err = CallError::new(
        code,
        match text {
            Some(t) => format!("the PBX ended the call: {t} (cause {raw})"),
            None => format!("the PBX ended the call with cause {raw}"),
        },
    );
    err.provider_code = Some(raw.to_owned());
    err.provider_message = text.map(str::to_owned);
    Some(err)
}

/// The error of a `DialEnd` with this `DialStatus`; `None` when the dialled party answered
/// (or the dial went on elsewhere).
pub fn dial_error(status: &str) -> Option<CallError> {
    let code = match status.trim().to_ascii_uppercase().as_str() {
        "ANSWER" | "CONTINUE" | "GOTO" => return None,
        "BUSY" => CallErrorCode::Busy,
        "NOANSWER" => CallErrorCode::NoAnswer,
        "CONGESTION" | "CHANUNAVAIL" => CallErrorCode::Unavailable,
        // The caller gave up (or the dial was aborted) before an answer.
        "CANCEL" | "ABORT" => CallErrorCode::Rejected,
        _ => CallErrorCode::Unknown,
    };
    let mut err = CallError::new(code, format!("the PBX's dial ended: {}", status.trim()));
    err.provider_code = Some(status.trim().to_owned());
    Some(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn causes_map_as_the_issue_and_q850_say() {
        for (cause, want) in [
            (17, Some(CallErrorCode::Busy)),
            (19, Some(CallErrorCode::NoAnswer)),
            (18, Some(CallErrorCode::NoAnswer)),
            (21, Some(CallErrorCode::Rejected)),
            (34, Some(CallErrorCode::Unavailable)),
            (42, Some(CallErrorCode::Unavailable)),
            (1, Some(CallErrorCode::InvalidNumber)),
            (28, Some(CallErrorCode::InvalidNumber)),
            (16, None),
            (31, None),
            (26, None),
            (111, Some(CallErrorCode::ProviderError)),
        ] {
            assert_eq!(cause_code(cause), want, "cause {cause}");
        }
    }

    #[test]
    fn the_pbx_words_stay_on_the_error() {
        let e = hangup_error(Some("17"), Some("User busy")).unwrap();
        assert_eq!(e.code, CallErrorCode::Busy);
        assert_eq!(e.provider_code.as_deref(), Some("17"));
        assert_eq!(e.provider_message.as_deref(), Some("User busy"));
        assert!(e.message.contains("User busy"));
        assert_eq!(hangup_error(Some("16"), Some("Normal Clearing")), None);
        assert_eq!(hangup_error(None, None), None);
        let odd = hangup_error(Some("weird"), None).unwrap();
        assert_eq!(
            (odd.code, odd.provider_code.as_deref()),
            (CallErrorCode::Unknown, Some("weird"))
        );
    }

    #[test]
    fn dial_statuses() {
        assert_eq!(dial_error("ANSWER"), None);
        assert_eq!(dial_error("BUSY").unwrap().code, CallErrorCode::Busy);
        assert_eq!(dial_error("noanswer").unwrap().code, CallErrorCode::NoAnswer);
        assert_eq!(dial_error("CHANUNAVAIL").unwrap().code, CallErrorCode::Unavailable);
        assert_eq!(
            dial_error("CONGESTION").unwrap().provider_code.as_deref(),
            Some("CONGESTION")
        );
    }
}
