//! `X-Twilio-Signature` (and SignalWire's `X-SignalWire-Signature`, the same algorithm):
//! HMAC-SHA1 with the auth token over the full URL Twilio requested followed by every
//! form parameter as `name` + `value`, names in byte order (a repeated name contributes
//! each of its distinct values, sorted), Base64-encoded.
//!
//! JSON requests carry `bodySHA256=<hex sha256 of the body>` in the query instead: the
//! signature then covers the URL alone, and the body must hash to that value.
//!
//! Twilio's SDKs accept a signature made over the URL with its port removed, or with the
//! scheme's default port added; so do we, since a proxy in front of the gateway may add or
//! strip one.
//!
//! A repeated parameter name is where the two vendors differ: Twilio sorts and
//! de-duplicates its values ([`sign`]); SignalWire's library, forked from an older Twilio
//! one, takes them in the order sent ([`sign_as_sent`]). [`verify`] accepts either.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Sign `url` and form `params` with `auth_token`: what Twilio puts in the header.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign_with(auth_token, url, params, true)
}

/// Sign as SignalWire's library does: a repeated name's values in the order sent.
pub fn sign_as_sent(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign_with(auth_token, url, params, false)
}

fn sign_with(auth_token: &str, url: &str, params: &[(String, String)], sort_values: bool) -> String {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut data = String::from(url);
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if sort_values {
            values.sort_unstable();
            values.dedup();
        }
        for v in values {
            data.push_str(name);
            data.push_str(v);
        }
    }
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Is `signature` valid for a request to `url` with `body` of `content_type`?
pub fn verify(auth_token: &str, url: &str, content_type: Option<&str>, body: &[u8], signature: Option<&str>) -> bool {
    let Some(signature) = signature else { return false };
    let json = content_type.is_some_and(|c| c.trim_start().starts_with("application/json"));
    let params: Vec<(String, String)> = if json {
        // The body is covered by its hash in the URL, not by parameters.
        match query_value(url, "bodySHA256") {
            Some(expected) if hex::encode(Sha256::digest(body)).eq_ignore_ascii_case(&expected) => Vec::new(),
            _ => return false,
        }
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    };
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let repeated = names.windows(2).any(|w| w[0] == w[1]);
    let given = signature.trim().as_bytes();
    url_variants(url).iter().any(|u| {
        crate::signature::constant_time_eq(sign(auth_token, u, &params).as_bytes(), given)
            || (repeated && crate::signature::constant_time_eq(sign_as_sent(auth_token, u, &params).as_bytes(), given))
    })
}

/// A query parameter's decoded value.
pub(crate) fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The URL as given, without its port, and with the scheme's default port: the forms
/// Twilio's SDKs accept.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    // A port follows the last ':' outside an IPv6 literal's brackets.
    let port_at = hostport
        .rfind(':')
        .filter(|&i| !hostport[i..].contains(']') && hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()));
    let host = port_at.map_or(hostport, |i| &hostport[..i]);
    match port_at {
        Some(_) => out.push(format!("{scheme}://{userinfo}{host}{tail}")),
        None => {
            let default = match scheme.to_ascii_lowercase().as_str() {
                "https" | "wss" => "443",
                "http" | "ws" => "80",
                _ => return out,
            };
            out.push(format!("{scheme}://{userinfo}{host}:{default}{tail}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn default_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn form(params: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
            .into_bytes()
    }

    // Vectors from Twilio's SDK test suites, as listed in the project's protocol reference.
    #[test]
    fn the_published_vectors() {
        let p = default_params();
        assert_eq!(sign(TOKEN, URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            sign(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            sign(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &p),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        assert_eq!(
            sign(TOKEN, "http://mycompany.com:80/myapp.php?foo=1&bar=2", &p),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        let repeated: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(sign(TOKEN, URL, &repeated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert_eq!(
            sign(TOKEN, "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", &p),
            "CukzLTc1tT5dXEDIHm/tKBanW10="
        );
        assert_eq!(
            sign(TOKEN, "https://user@mycompany.com/myapp.php?foo=1&bar=2", &p),
            "2YRLlVAflCqxaNicjMpJcSTgzSs="
        );
        assert_eq!(
            sign(
                TOKEN,
                "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It%27s+amazing",
                &p
            ),
            "TfZzewPq8wqrGlMfyAud8+/IvJ0="
        );
    }

    #[test]
    fn form_requests_verify_with_or_without_the_port() {
        let body = form(&default_params());
        let ct = Some("application/x-www-form-urlencoded");
        assert!(verify(TOKEN, URL, ct, &body, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")));
        // Signed with :443, received without (and the other way round).
        assert!(verify(TOKEN, URL, ct, &body, Some("kvajT1Ptam85bY51eRf/AJRuM3w=")));
        assert!(verify(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            ct,
            &body,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        // Tampered: a parameter, the URL, the token, a missing header.
        let mut tampered = default_params();
        tampered[2].1 = "9999".into();
        assert!(!verify(
            TOKEN,
            URL,
            ct,
            &form(&tampered),
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        assert!(!verify(
            TOKEN,
            "https://mycompany.com/other.php?foo=1&bar=2",
            ct,
            &body,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        assert!(!verify("54321", URL, ct, &body, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")));
        assert!(!verify(TOKEN, URL, ct, &body, None));
    }

    #[test]
    fn json_requests_are_covered_by_the_body_hash() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let ct = Some("application/json");
        assert!(verify(TOKEN, url, ct, body, Some("a9nBmqA0ju/hNViExpshrM61xv4=")));
        assert!(!verify(
            TOKEN,
            url,
            ct,
            br#"{"property": "other", "boolean": true}"#,
            Some("a9nBmqA0ju/hNViExpshrM61xv4=")
        ));
        let only_hash = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert!(verify(TOKEN, only_hash, ct, body, Some("y77kIzt2vzLz71DgmJGsen2scGs=")));
        let empty = "https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert!(verify(TOKEN, empty, ct, b"{}", Some("Ldidvp12m26NI7eqEvxnEpkd9Hc=")));
        assert!(verify(TOKEN, empty, ct, b"{}", Some("rw/jVviOgicj2+kHZULvebnA4ag=")));
        // JSON without the hash in the URL cannot be verified.
        assert!(!verify(TOKEN, URL, ct, body, Some("a9nBmqA0ju/hNViExpshrM61xv4=")));
    }

    #[test]
    fn odd_urls_do_not_panic() {
        for u in [
            "",
            "nonsense",
            "https://",
            "https://[::1]:8443/x",
            "https://[::1]/x",
            "http://h:/x",
            "ftp://h/x",
        ] {
            let _ = url_variants(u);
            assert!(!verify(TOKEN, u, None, b"a=1", Some("x")));
        }
        assert!(url_variants("https://[::1]:8443/x").contains(&"https://[::1]/x".to_owned()));
        assert!(url_variants("https://[::1]/x").contains(&"https://[::1]:443/x".to_owned()));
    }
}
