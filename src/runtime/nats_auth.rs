//! NATS connection options from the settings: credentials outside the URL (`NATS_USER`/`NATS_PASSWORD`,
//! `NATS_TOKEN`, `NATS_CREDS_FILE`), credentials inside it (`nats://user:pass@host`, `nats://token@host`: the
//! client library ignores those, so they are taken out here) and a TLS CA (`NATS_TLS_CA_FILE`). Errors name the
//! variable, never a secret.

use async_nats::ConnectOptions;
use percent_encoding::percent_decode_str;

use crate::settings::Settings;

/// Credentials found in the user-info part of a NATS URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlAuth {
    /// `user:password@`.
    UserPassword(String, String),
    /// `token@`.
    Token(String),
}

/// Splits `NATS_URL` (one URL or a comma-separated list) into the server addresses without credentials and the
/// credentials of the first URL that has some.
pub fn split_url_credentials(urls: &str) -> Result<(Vec<String>, Option<UrlAuth>), String> {
    let mut servers = Vec::new();
    let mut auth = None;
    for raw in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("nats://{raw}")
        };
        let mut url = url::Url::parse(&with_scheme).map_err(|e| {
            format!(
                "NATS_URL {} is not a URL: {e}",
                crate::settings::redact_urls(raw)
            )
        })?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let user = decode(url.username());
        let found = match url.password() {
            Some(p) => Some(UrlAuth::UserPassword(user, decode(p))),
            None if !user.is_empty() => Some(UrlAuth::Token(user)),
            None => None,
        };
        if auth.is_none() {
            auth = found;
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        servers.push(url.to_string().trim_end_matches('/').to_owned());
    }
    if servers.is_empty() {
        return Err("NATS_URL names no server".into());
    }
    Ok((servers, auth))
}

/// Connect options carrying the configured credentials and TLS roots, and the server addresses to connect to.
/// Variables outside the URL win over credentials inside it.
pub async fn connect_options(
    settings: &Settings,
    url: &str,
) -> Result<(ConnectOptions, Vec<String>), String> {
    let (servers, url_auth) = split_url_credentials(url)?;
    let mut options = match &settings.nats_creds_file {
        Some(path) => ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|e| format!("NATS_CREDS_FILE {}: {e}", path.display()))?,
        None => ConnectOptions::new(),
    };
    let token = settings.nats_token.clone().filter(|t| !t.is_empty());
    let user_password = settings
        .nats_user
        .clone()
        .zip(settings.nats_password.clone());
    match (url_auth, &user_password, &token) {
        (Some(UrlAuth::UserPassword(u, p)), None, None) => {
            options = options.user_and_password(u, p);
        }
        (Some(UrlAuth::Token(t)), None, None) => options = options.token(t),
        _ => {}
    }
    if let Some((user, password)) = user_password {
        options = options.user_and_password(user, password);
    }
    if let Some(token) = token {
        options = options.token(token);
    }
    if let Some(ca) = &settings.nats_tls_ca_file {
        if !ca.is_file() {
            return Err(format!(
                "NATS_TLS_CA_FILE {} is not a readable file",
                ca.display()
            ));
        }
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    Ok((options, servers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_urls() {
        let (s, a) =
            split_url_credentials("nats://u:p%40ss@h:4222,nats://h2:4222").unwrap_or_default();
        assert_eq!(s, ["nats://h:4222", "nats://h2:4222"]);
        assert_eq!(a, Some(UrlAuth::UserPassword("u".into(), "p@ss".into())));
        let (s, a) = split_url_credentials("tok@h:1").unwrap_or_default();
        assert_eq!(s, ["nats://h:1"]);
        assert_eq!(a, Some(UrlAuth::Token("tok".into())));
        assert!(split_url_credentials(" , ").is_err());
    }
}
