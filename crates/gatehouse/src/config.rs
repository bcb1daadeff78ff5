//! Configuration: one TOML file, every key overridable by `GATEHOUSE_<KEY>`,
//! secrets also from files (`<key>_file` / `GATEHOUSE_<KEY>_FILE`). Defaults
//! make `gatehouse serve` work with no file at all. Documented key by key in
//! `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::CliError;

/// `text` or `json` logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the application hosts, `/admin` and `/api`.
    pub listen: SocketAddr,
    /// SQLite file and generated master key live here.
    pub data_dir: PathBuf,
    /// `sqlite://...` (default `sqlite://<data_dir>/gatehouse.db`).
    pub database_url: Option<SecretString>,
    /// File holding `database_url`.
    pub database_url_file: Option<PathBuf>,
    /// Most database connections per node.
    pub database_max_connections: u32,
    /// Database connections kept open when idle.
    pub database_min_connections: u32,
    /// How long a query waits for a database connection before failing.
    #[serde(with = "humantime_serde")]
    pub database_acquire_timeout: Duration,
    /// While the database is unreachable, signed-in users keep being served
    /// from this node's memory for this long (revocations made meanwhile
    /// cannot be seen); after it, requests get 503 until it returns.
    #[serde(with = "humantime_serde")]
    pub database_outage_grace: Duration,
    /// How long an IdP's last good keys and discovery document are used
    /// while fetching them again fails.
    #[serde(with = "humantime_serde")]
    pub idp_keys_max_age: Duration,
    /// 32 bytes, base64: seals secrets at rest (default: generated into `data_dir`).
    pub master_key: Option<SecretString>,
    /// File holding `master_key`.
    pub master_key_file: Option<PathBuf>,
    /// Older master keys, still used to open values sealed before a rotation.
    pub previous_master_keys: Vec<SecretString>,
    /// Host that serves `/admin` and `/api`.
    pub admin_host: gatehouse_core::HostPattern,
    /// `http` or `https`: how the console is reached (its cookie is `Secure` on https).
    /// Default: `http` for `localhost`, `*.localhost` and IP addresses, else `https`.
    pub admin_scheme: Option<gatehouse_core::Scheme>,
    /// The issuer (`iss`) of `X-Gatehouse-Assertion`, the instance's public
    /// URL. Default: `<admin_scheme>://<admin_host>` with the listening port
    /// when `admin_host` names none.
    pub assertion_issuer: Option<String>,
    /// A bootstrap admin API token.
    pub admin_token: Option<SecretString>,
    /// File holding `admin_token`.
    pub admin_token_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Log filter (`info`, `debug`, or a tracing directive list).
    pub log_level: String,
    /// How long a session may go unused.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// How long a session may live at all.
    #[serde(with = "humantime_serde")]
    pub session_absolute_timeout: Duration,
    /// Name of the session cookie on application hosts.
    pub session_cookie: String,
    /// How long to wait for an upstream's response head.
    #[serde(with = "humantime_serde")]
    pub upstream_timeout: Duration,
    /// Worker threads serving requests, each with its own listening socket
    /// and runtime; 0 (the default): one per core.
    pub workers: usize,
    /// How long a client has to send a request's headers, counted from when
    /// the connection is ready for the next request (idle keep-alive
    /// connections close after it too).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Addresses or networks of load balancers in front of Gatehouse, whose
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Password sign-in attempts per account and client address a minute
    /// (the account as a whole allows ten times as many, except from
    /// browsers that signed in to it before).
    pub login_attempts_per_account: u32,
    /// Password sign-in attempts per client address a minute.
    pub login_attempts_per_ip: u32,
    /// Accept cleartext HTTP/2 with prior knowledge (off: HTTP/1.1 only).
    pub http2_cleartext: bool,
    /// When set, `/metrics` (admin host only) needs `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<SecretString>,
    /// File holding `metrics_token`.
    pub metrics_token_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_url_file: None,
            database_max_connections: 16,
            database_min_connections: 1,
            database_acquire_timeout: Duration::from_secs(3),
            database_outage_grace: Duration::from_secs(300),
            idp_keys_max_age: Duration::from_secs(24 * 3600),
            master_key: None,
            master_key_file: None,
            previous_master_keys: Vec::new(),
            admin_host: gatehouse_core::HostPattern::localhost(),
            admin_scheme: None,
            assertion_issuer: None,
            admin_token: None,
            admin_token_file: None,
            // Loopback (a proxy on this machine); checked by the tests below.
            trusted_proxies: ["127.0.0.0/8", "::1"]
                .into_iter()
                .filter_map(gatehouse_http::extract::parse_trusted_proxy)
                .map(TrustedProxy)
                .collect(),
            login_attempts_per_account: 10,
            login_attempts_per_ip: 30,
            http2_cleartext: false,
            metrics_token: None,
            metrics_token_file: None,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            session_idle_timeout: Duration::from_secs(8 * 3600),
            session_absolute_timeout: Duration::from_secs(7 * 24 * 3600),
            session_cookie: "gatehouse_session".to_owned(),
            upstream_timeout: Duration::from_secs(60),
            header_read_timeout: gatehouse_http::server::HEADER_READ_TIMEOUT,
            workers: 0,
        }
    }
}

/// One `trusted_proxies` entry, parsed when the configuration is read: an
/// address (`10.0.0.5`, `::1`) or a network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub gatehouse_http::IpNet);

impl TrustedProxy {
    /// Parse an address or network.
    pub fn parse(raw: &str) -> Option<Self> {
        gatehouse_http::extract::parse_trusted_proxy(raw).map(Self)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        gatehouse_http::extract::parse_trusted_proxy(&raw)
            .map(Self)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{raw:?} is not an IP address or network (10.0.0.5, 10.0.0.0/8)"
                ))
            })
    }
}

/// The default config file, read when it exists and no `--config` is given.
pub const DEFAULT_FILE: &str = "gatehouse.toml";

impl Config {
    /// Load: defaults, then the TOML file, then `GATEHOUSE_*` variables,
    /// then `*_file` secrets. `path` must exist when given explicitly.
    pub fn load(path: Option<&Path>) -> Result<Self, CliError> {
        let mut fig = Figment::new();
        match path {
            Some(p) if !p.exists() => {
                return Err(CliError::Config(format!(
                    "config file {} does not exist",
                    p.display()
                )));
            }
            Some(p) => fig = fig.merge(Toml::file_exact(p)),
            None if Path::new(DEFAULT_FILE).exists() => {
                fig = fig.merge(Toml::file_exact(DEFAULT_FILE))
            }
            None => {}
        }
        fig = fig.merge(Env::prefixed("GATEHOUSE_").ignore(&["config", "token"]));
        let mut config: Config = fig.extract().map_err(|e| CliError::Config(e.to_string()))?;
        config.resolve_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_files(&mut self) -> Result<(), CliError> {
        resolve(
            &mut self.master_key,
            self.master_key_file.take(),
            "master_key",
        )?;
        resolve(
            &mut self.admin_token,
            self.admin_token_file.take(),
            "admin_token",
        )?;
        resolve(
            &mut self.database_url,
            self.database_url_file.take(),
            "database_url",
        )?;
        resolve(
            &mut self.metrics_token,
            self.metrics_token_file.take(),
            "metrics_token",
        )?;
        Ok(())
    }

    /// `metrics_token`, checked: at least 16 characters.
    pub fn metrics_token(&self) -> Result<Option<SecretString>, CliError> {
        match &self.metrics_token {
            Some(t) if t.expose_secret().trim().len() < 16 => Err(CliError::Config(
                "metrics_token must be at least 16 characters".into(),
            )),
            Some(t) => Ok(Some(SecretString::from(
                t.expose_secret().trim().to_owned(),
            ))),
            None => Ok(None),
        }
    }

    /// The number of worker threads: `workers`, or one per core.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => gatehouse_http::server::default_workers(),
            n => n,
        }
    }

    /// `trusted_proxies`.
    pub fn trusted_proxies(&self) -> Vec<gatehouse_http::IpNet> {
        self.trusted_proxies.iter().map(|t| t.0).collect()
    }

    fn validate(&self) -> Result<(), CliError> {
        self.metrics_token()?;
        if self.workers > gatehouse_http::server::MAX_WORKERS {
            return Err(CliError::Config(format!(
                "workers must be at most {} (0: one per core), not {}",
                gatehouse_http::server::MAX_WORKERS,
                self.workers
            )));
        }
        if self.login_attempts_per_account == 0 || self.login_attempts_per_ip == 0 {
            return Err(CliError::Config(
                "login_attempts_per_account and login_attempts_per_ip must be at least 1".into(),
            ));
        }
        if let Some(i) = &self.assertion_issuer {
            gatehouse_core::sso::IssuerUrl::parse(i, "assertion_issuer")
                .map_err(|e| CliError::Config(e.to_string()))?;
        }
        if self.database_max_connections == 0
            || self.database_min_connections > self.database_max_connections
        {
            return Err(CliError::Config(
                "database_max_connections must be at least 1 and at least database_min_connections"
                    .into(),
            ));
        }
        if self.database_acquire_timeout.is_zero() {
            return Err(CliError::Config(
                "database_acquire_timeout must be longer than zero".into(),
            ));
        }
        if self.session_idle_timeout.is_zero() || self.session_absolute_timeout.is_zero() {
            return Err(CliError::Config(
                "session timeouts must be longer than zero".into(),
            ));
        }
        if self.session_cookie.is_empty()
            || !self
                .session_cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(CliError::Config(
                "session_cookie must be letters, digits, '_' or '-'".into(),
            ));
        }
        if let Some(t) = &self.admin_token
            && t.expose_secret().len() < 16
        {
            return Err(CliError::Config(
                "admin_token must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    /// The issuer of assertions for a node listening on `port`.
    pub fn assertion_issuer(&self, port: u16) -> String {
        if let Some(i) = &self.assertion_issuer {
            return i.trim_end_matches('/').to_owned();
        }
        let scheme = self.admin_scheme();
        let host = &self.admin_host;
        let named_port = host.port().is_some();
        let default_port = match scheme {
            gatehouse_core::Scheme::Http => 80,
            gatehouse_core::Scheme::Https => 443,
        };
        if named_port || port == default_port {
            format!("{}://{host}", scheme.as_str())
        } else {
            format!("{}://{host}:{port}", scheme.as_str())
        }
    }

    /// The database pool settings.
    pub fn pool(&self) -> gatehouse_store::PoolSettings {
        gatehouse_store::PoolSettings {
            max_connections: self.database_max_connections,
            min_connections: self.database_min_connections,
            acquire_timeout: self.database_acquire_timeout,
        }
    }

    /// The scheme of the console.
    pub fn admin_scheme(&self) -> gatehouse_core::Scheme {
        match self.admin_scheme {
            Some(scheme) => scheme,
            None => {
                let host = self.admin_host.host();
                let local = host == "localhost"
                    || host.ends_with(".localhost")
                    || host.parse::<std::net::IpAddr>().is_ok();
                if local {
                    gatehouse_core::Scheme::Http
                } else {
                    gatehouse_core::Scheme::Https
                }
            }
        }
    }

    /// The database URL (default: SQLite in `data_dir`).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.expose_secret().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("gatehouse.db").display()),
        }
    }
}

/// Fill `value` from `file` (trailing newline removed); both set is an error.
fn resolve(
    value: &mut Option<SecretString>,
    file: Option<PathBuf>,
    key: &str,
) -> Result<(), CliError> {
    let Some(file) = file else {
        return Ok(());
    };
    if value.is_some() {
        return Err(CliError::Config(format!(
            "set either {key} or {key}_file, not both"
        )));
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| CliError::Config(format!("{key}_file {}: {e}", file.display())))?;
    *value = Some(SecretString::from(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn no_file_gives_the_documented_defaults() {
        Jail::expect_with(|_| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(c.data_dir, PathBuf::from("./data"));
            assert_eq!(c.database_url(), "sqlite://./data/gatehouse.db");
            assert_eq!(c.admin_host, gatehouse_core::HostPattern::localhost());
            assert_eq!(c.log_format, LogFormat::Text);
            assert_eq!(c.trusted_proxies().len(), 2, "loopback is trusted");
            assert!(!c.http2_cleartext);
            Ok(())
        });
    }

    #[test]
    fn env_overrides_the_file_and_secrets_come_from_files() {
        Jail::expect_with(|jail| {
            jail.create_file("gatehouse.toml", "listen = \"127.0.0.1:9000\"\nadmin_host = \"admin.example.com\"\nsession_idle_timeout = \"30m\"\n")?;
            jail.create_file("key.txt", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\n")?;
            jail.set_env("GATEHOUSE_LISTEN", "127.0.0.1:9100");
            jail.set_env("GATEHOUSE_LOG_FORMAT", "json");
            jail.set_env("GATEHOUSE_MASTER_KEY_FILE", "key.txt");
            jail.set_env("GATEHOUSE_CONFIG", "ignored");
            // The admin token `apply --server` sends is not configuration.
            jail.set_env("GATEHOUSE_TOKEN", "ignored");
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
            assert_eq!(c.admin_host.to_string(), "admin.example.com");
            assert_eq!(c.log_format, LogFormat::Json);
            assert_eq!(c.session_idle_timeout, Duration::from_secs(1800));
            assert_eq!(
                c.master_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned())
                    .as_deref(),
                Some("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=")
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_conflicts_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("gatehouse.toml", "lisen = \"x\"\n")?;
            assert!(matches!(Config::load(None), Err(CliError::Config(m)) if m.contains("lisen")));
            jail.create_file("gatehouse.toml", "admin_token = \"0123456789abcdef\"\n")?;
            jail.create_file("t", "x")?;
            jail.set_env("GATEHOUSE_ADMIN_TOKEN_FILE", "t");
            assert!(
                matches!(Config::load(None), Err(CliError::Config(m)) if m.contains("not both"))
            );
            jail.create_file(
                "gatehouse.toml",
                "trusted_proxies = [\"10.0.0.0/8\", \"lb.internal\"]\n",
            )?;
            jail.clear_env();
            assert!(
                matches!(Config::load(None), Err(CliError::Config(m)) if m.contains("lb.internal"))
            );
            jail.create_file(
                "gatehouse.toml",
                "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
            )?;
            assert_eq!(Config::load(None).unwrap().trusted_proxies().len(), 2);
            jail.set_env("GATEHOUSE_TRUSTED_PROXIES", "[\"10.0.0.5\"]");
            assert_eq!(
                Config::load(None).unwrap().trusted_proxies()[0].to_string(),
                "10.0.0.5/32"
            );
            Ok(())
        });
        assert!(matches!(
            Config::load(Some(Path::new("/nonexistent.toml"))),
            Err(CliError::Config(_))
        ));
    }

    #[test]
    fn workers_default_to_the_cores_and_are_bounded() {
        Jail::expect_with(|jail| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.workers(), gatehouse_http::server::default_workers());
            jail.set_env("GATEHOUSE_WORKERS", "3");
            assert_eq!(Config::load(None).unwrap().workers(), 3);
            jail.set_env("GATEHOUSE_WORKERS", "100000");
            let err = Config::load(None).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("workers must be at most 256"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_documented_example_loads() {
        Jail::expect_with(|jail| {
            let example = include_str!("../../../docs/gatehouse.example.toml");
            jail.create_file("gatehouse.toml", example)?;
            Config::load(None).unwrap();
            Ok(())
        });
    }
}
