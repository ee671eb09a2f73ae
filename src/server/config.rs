//! Server configuration: the `[herald]` table of Leptos.toml, overridden by
//! `HERALD_*` environment variables (and `DATABASE_URL`). Server only.
//!
//! Values are parsed into types that cannot hold invalid settings; anything
//! wrong stops start-up with a message naming the key and where it came from.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Name of the table that holds Herald's own settings.
const TABLE: &str = "herald";
/// Prefix of the environment variables that override settings.
const ENV_PREFIX: &str = "HERALD_";

/// Everything the server reads at start-up. Field names are the keys of the
/// `[herald]` table; see Leptos.toml for what each one means.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub addr: SocketAddr,
    pub public_url: PublicUrl,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub db_max_connections: NonZeroU32,
    pub db_busy_timeout_ms: NonZeroU64,
    pub db_synchronous: Synchronous,
    pub write_queue: NonZeroUsize,
    pub max_database_bytes: u64,
    pub log: String,
    pub log_format: LogFormat,
    pub max_body_bytes: NonZeroUsize,
    pub header_read_timeout_secs: NonZeroU64,
    pub body_read_timeout_secs: NonZeroU64,
    pub write_timeout_secs: NonZeroU64,
    pub max_connections: u32,
    pub max_connections_per_ip: NonZeroU32,
    pub trusted_proxies: TrustedProxies,
    pub shutdown_grace_secs: u64,
    pub heartbeat_secs: HeartbeatSecs,
    pub sse_retry_ms: NonZeroU32,
    pub connection_queue: NonZeroUsize,
    pub max_connections_per_user: NonZeroU32,
    pub event_retention_days: NonZeroU32,
    pub event_retention_per_user: NonZeroU32,
    pub event_retention_interval_secs: NonZeroU64,
    pub session_idle_secs: NonZeroU32,
    pub session_absolute_secs: NonZeroU32,
    pub registration_open: bool,
    pub login_failures_per_account_per_hour: NonZeroU32,
    pub login_failures_per_ip_per_hour: NonZeroU32,
    pub login_failures_per_device_per_hour: NonZeroU32,
    pub registrations_per_ip_per_hour: NonZeroU32,
    pub password_hash_concurrency: NonZeroUsize,
    pub send_rate_per_minute: NonZeroU32,
    pub publish_rate_per_minute: NonZeroU32,
    pub session_publish_rate_per_minute: NonZeroU32,
    pub conversations_per_minute: NonZeroU32,
    pub membership_changes_per_minute: NonZeroU32,
    pub max_group_members: NonZeroU32,
    pub max_attachment_bytes: NonZeroUsize,
    pub upload_quota_bytes: NonZeroU64,
    pub max_concurrent_uploads: NonZeroUsize,
    pub metrics_allow_loopback: bool,
    pub push_contact: String,
    pub push_services: PushServices,
    pub push_ttl_secs: PushTtlSecs,
    pub push_concurrency: NonZeroUsize,
    pub topic_access: TopicAccessRules,
    pub max_topics_per_connection: NonZeroUsize,
    pub topic_ttl_secs: NonZeroU64,
    pub max_topic_values: NonZeroU32,
    pub action_origins: ActionOrigins,
    pub admin_username: String,
    pub admin_password: String,
}

fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero constant")
}

fn nz64(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).expect("non-zero constant")
}

fn nzu(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero constant")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: PublicUrl("http://127.0.0.1:3000".into()),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            db_max_connections: nz32(8),
            db_busy_timeout_ms: nz64(5000),
            db_synchronous: Synchronous::Full,
            write_queue: nzu(4096),
            max_database_bytes: 0,
            log: "info".into(),
            log_format: LogFormat::Pretty,
            max_body_bytes: nzu(1 << 20),
            header_read_timeout_secs: nz64(10),
            body_read_timeout_secs: nz64(30),
            write_timeout_secs: nz64(30),
            max_connections: 0,
            max_connections_per_ip: nz32(256),
            trusted_proxies: TrustedProxies::default(),
            shutdown_grace_secs: 5,
            heartbeat_secs: HeartbeatSecs(15),
            sse_retry_ms: nz32(2000),
            connection_queue: nzu(256),
            max_connections_per_user: nz32(16),
            event_retention_days: nz32(30),
            event_retention_per_user: nz32(10_000),
            event_retention_interval_secs: nz64(600),
            session_idle_secs: nz32(7 * 24 * 3600),
            session_absolute_secs: nz32(30 * 24 * 3600),
            registration_open: true,
            login_failures_per_account_per_hour: nz32(100),
            login_failures_per_ip_per_hour: nz32(1000),
            login_failures_per_device_per_hour: nz32(10),
            registrations_per_ip_per_hour: nz32(20),
            password_hash_concurrency: nzu(2),
            send_rate_per_minute: nz32(100),
            publish_rate_per_minute: nz32(60_000),
            session_publish_rate_per_minute: nz32(100),
            conversations_per_minute: nz32(20),
            membership_changes_per_minute: nz32(60),
            max_group_members: nz32(256),
            max_attachment_bytes: nzu(10 << 20),
            upload_quota_bytes: nz64(100 << 20),
            max_concurrent_uploads: nzu(8),
            metrics_allow_loopback: false,
            push_contact: String::new(),
            push_services: PushServices::default(),
            push_ttl_secs: PushTtlSecs(24 * 3600),
            push_concurrency: nzu(16),
            topic_access: TopicAccessRules::default(),
            max_topics_per_connection: nzu(100),
            topic_ttl_secs: nz64(24 * 3600),
            max_topic_values: nz32(100_000),
            action_origins: ActionOrigins::default(),
            admin_username: String::new(),
            admin_password: String::new(),
        }
    }
}

/// Who may subscribe to the topics of each namespace: `namespace=rule`
/// entries (rules: `users`, `channel`, `grant`; see [`TopicAccess`]). A
/// namespace not listed needs a token grant. Written as a TOML list or, in
/// `HERALD_TOPIC_ACCESS`, as one comma-separated string.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "ProxyList", into = "Vec<String>")]
pub struct TopicAccessRules(Vec<(String, crate::model::topic::TopicAccess)>);

impl TopicAccessRules {
    /// The rule of `namespace`.
    pub fn rule(&self, namespace: &str) -> crate::model::topic::TopicAccess {
        self.0
            .iter()
            .find(|(name, _)| name == namespace)
            .map_or(crate::model::topic::TopicAccess::Grant, |(_, rule)| *rule)
    }
}

impl TryFrom<ProxyList> for TopicAccessRules {
    type Error = String;

    fn try_from(value: ProxyList) -> Result<Self, Self::Error> {
        let mut rules = Vec::new();
        for entry in value.entries() {
            let (namespace, rule) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not namespace=rule"))?;
            let namespace = namespace.trim();
            let valid_namespace = (1..=32).contains(&namespace.len())
                && namespace
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !valid_namespace || namespace == crate::model::topic::HERALD_NAMESPACE {
                return Err(format!(
                    "`{namespace}` is not a namespace that can be configured"
                ));
            }
            let rule = crate::model::topic::TopicAccess::parse(rule.trim()).ok_or_else(|| {
                format!("`{}` is not a rule (users, channel or grant)", rule.trim())
            })?;
            rules.push((namespace.to_owned(), rule));
        }
        Ok(Self(rules))
    }
}

impl From<TopicAccessRules> for Vec<String> {
    fn from(value: TopicAccessRules) -> Self {
        value
            .0
            .into_iter()
            .map(|(namespace, rule)| {
                let rule = match rule {
                    crate::model::topic::TopicAccess::Users => "users",
                    crate::model::topic::TopicAccess::Channel => "channel",
                    crate::model::topic::TopicAccess::Grant => "grant",
                };
                format!("{namespace}={rule}")
            })
            .collect()
    }
}

/// Origins besides Herald's own that a notification's POST action may call
/// from the user's browser (the pages' Content-Security-Policy allows
/// exactly these in `connect-src`). Written as a TOML list or, in
/// `HERALD_ACTION_ORIGINS`, as one comma-separated string.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "ProxyList", into = "Vec<String>")]
pub struct ActionOrigins(Vec<crate::model::integration::WebOrigin>);

impl ActionOrigins {
    /// Whether `origin` (normalised) is listed.
    pub fn allows(&self, origin: &crate::model::integration::WebOrigin) -> bool {
        self.0.contains(origin)
    }

    /// The origins, for the Content-Security-Policy.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(crate::model::integration::WebOrigin::as_str)
    }
}

impl TryFrom<ProxyList> for ActionOrigins {
    type Error = String;

    fn try_from(value: ProxyList) -> Result<Self, Self::Error> {
        value
            .entries()
            .iter()
            .map(|entry| crate::model::integration::WebOrigin::parse(entry).map_err(|e| e.message))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl From<ActionOrigins> for Vec<String> {
    fn from(value: ActionOrigins) -> Self {
        value.0.iter().map(|o| o.as_str().to_owned()).collect()
    }
}

/// The URL users reach Herald at: `http://` or `https://`, no trailing slash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Whether browsers reach Herald over TLS (cookies then get `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PublicUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| format!("`{value}` must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') || rest.chars().any(char::is_whitespace) {
            return Err(format!("`{value}` has no valid host"));
        }
        Ok(Self(value.trim_end_matches('/').to_owned()))
    }
}

impl From<PublicUrl> for String {
    fn from(value: PublicUrl) -> Self {
        value.0
    }
}

/// Seconds between heartbeats: 1 to 15 (API.md promises one at least every 15 s).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "u64", into = "u64")]
pub struct HeartbeatSecs(u64);

impl HeartbeatSecs {
    /// The interval as a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl TryFrom<u64> for HeartbeatSecs {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        if (1..=15).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("{value} is not between 1 and 15"))
        }
    }
}

impl From<HeartbeatSecs> for u64 {
    fn from(value: HeartbeatSecs) -> Self {
        value.0
    }
}

/// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are
/// believed: addresses or CIDR ranges. Written as a TOML list or, in
/// `HERALD_TRUSTED_PROXIES`, as one comma-separated string.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "ProxyList", into = "Vec<String>")]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

#[derive(Deserialize)]
#[serde(untagged)]
enum ProxyList {
    Text(String),
    List(Vec<String>),
}

impl ProxyList {
    /// The entries, trimmed, without empty ones.
    fn entries(self) -> Vec<String> {
        let entries = match self {
            Self::Text(text) => text.split(',').map(str::to_owned).collect(),
            Self::List(list) => list,
        };
        entries
            .into_iter()
            .map(|entry| entry.trim().to_owned())
            .filter(|entry| !entry.is_empty())
            .collect()
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket appears as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted (forwarding headers are then ignored).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<ProxyList> for TrustedProxies {
    type Error = String;

    fn try_from(value: ProxyList) -> Result<Self, Self::Error> {
        let mut nets = Vec::new();
        for entry in value.entries() {
            let net = entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(value: TrustedProxies) -> Self {
        value.0.iter().map(ToString::to_string).collect()
    }
}

/// The push services Herald may send Web Push requests to. A browser's
/// subscription names the URL Herald will POST to; only these hosts are
/// accepted, so that nobody can make Herald send requests into a private
/// network. Entries are host names (`fcm.googleapis.com`, reached over
/// https on its default port) or `*.` patterns (`*.push.apple.com`: any
/// subdomain); an entry that is a whole origin (`http://127.0.0.1:9000`)
/// allows exactly that origin, even over plain http, for tests and for a
/// self-hosted push service. Written as a TOML list or, in
/// `HERALD_PUSH_SERVICES`, as one comma-separated string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "ProxyList", into = "Vec<String>")]
pub struct PushServices(Vec<PushService>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum PushService {
    Host(String),
    Subdomains(String),
    Origin(String),
}

impl Default for PushServices {
    /// The services of Chrome, Edge, Firefox, Safari and the browsers
    /// built on them.
    fn default() -> Self {
        Self(vec![
            PushService::Host("fcm.googleapis.com".into()),
            PushService::Host("updates.push.services.mozilla.com".into()),
            PushService::Subdomains("push.services.mozilla.com".into()),
            PushService::Subdomains("notify.windows.com".into()),
            PushService::Subdomains("push.apple.com".into()),
        ])
    }
}

impl PushServices {
    /// Whether Herald may POST to a push endpoint at `origin`, given as
    /// scheme, lower-case host and explicit port (`None`: the scheme's
    /// default).
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.0.iter().any(|service| match service {
            PushService::Host(name) => scheme == "https" && port.is_none() && host == name,
            PushService::Subdomains(parent) => {
                scheme == "https"
                    && port.is_none()
                    && host
                        .strip_suffix(parent.as_str())
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            }
            PushService::Origin(origin) => {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                *origin == format!("{scheme}://{host}{port}")
            }
        })
    }
}

impl TryFrom<ProxyList> for PushServices {
    type Error = String;

    fn try_from(value: ProxyList) -> Result<Self, Self::Error> {
        let mut services = Vec::new();
        for entry in value.entries() {
            let entry = entry.to_ascii_lowercase();
            let host_like = |text: &str| {
                !text.is_empty()
                    && text.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            };
            let service = if let Some(rest) = entry
                .strip_prefix("https://")
                .or_else(|| entry.strip_prefix("http://"))
            {
                if !host_like(rest) {
                    return Err(format!("`{entry}` is not an origin (scheme://host[:port])"));
                }
                PushService::Origin(entry.clone())
            } else if let Some(parent) = entry.strip_prefix("*.") {
                if !host_like(parent) || parent.contains(':') {
                    return Err(format!("`{entry}` is not a host pattern (*.example.com)"));
                }
                PushService::Subdomains(parent.to_owned())
            } else {
                if !host_like(&entry) || entry.contains(':') {
                    return Err(format!("`{entry}` is not a host name"));
                }
                PushService::Host(entry.clone())
            };
            services.push(service);
        }
        Ok(Self(services))
    }
}

impl From<PushServices> for Vec<String> {
    fn from(value: PushServices) -> Self {
        value
            .0
            .into_iter()
            .map(|service| match service {
                PushService::Host(host) => host,
                PushService::Subdomains(parent) => format!("*.{parent}"),
                PushService::Origin(origin) => origin,
            })
            .collect()
    }
}

/// How long a push service keeps a push for a device that is offline, in
/// seconds: 60 to 2,419,200 (four weeks, the most services keep).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "u64", into = "u64")]
pub struct PushTtlSecs(u64);

impl PushTtlSecs {
    /// The value of the `TTL` header.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for PushTtlSecs {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        if (60..=2_419_200).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("{value} is not between 60 and 2419200"))
        }
    }
}

impl From<PushTtlSecs> for u64 {
    fn from(value: PushTtlSecs) -> Self {
        value.0
    }
}

/// When SQLite's commit waits for the disk. `full` (the default): an
/// acknowledged write survives power loss and OS crashes. `normal`: it
/// survives a crash of Herald, but the last transactions before a power
/// loss or OS crash may be lost.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found (set HERALD_CONFIG to another path)")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let lines: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
        Self::Invalid(lines.join("\n"))
    }
}

/// One figment error as "key `herald.x` (from SOURCE): what is wrong".
fn describe(error: &figment::Error) -> String {
    // extract_inner reports the table name in varying positions of the path.
    let parts: Vec<&str> = error
        .path
        .iter()
        .map(String::as_str)
        .filter(|part| *part != TABLE)
        .collect();
    let key = if parts.is_empty() {
        TABLE.to_owned()
    } else {
        format!("{TABLE}.{}", parts.join("."))
    };
    let source = match &error.metadata {
        Some(meta) if meta.name == ENV_SOURCE => env_var_name(&parts),
        Some(meta) => meta
            .source
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| meta.name.to_string()),
        None => "defaults".to_owned(),
    };
    format!(
        "invalid configuration: key `{key}` (from {source}): {}",
        error.kind
    )
}

const ENV_SOURCE: &str = "environment variable";

/// The variable that overrides a key such as `data_dir`.
fn env_var_name(parts: &[&str]) -> String {
    format!("{ENV_PREFIX}{}", parts.join("_").to_uppercase())
}

impl Config {
    /// Reads `path` (Leptos.toml) and the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Reads `path` with `vars` standing in for the environment.
    pub fn load_with_env(
        path: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::Missing(path.to_owned()));
        }
        let defaults = Self::default();
        let env = EnvOverrides::new(&defaults, vars);
        let config: Self = Figment::new()
            .merge(Serialized::default(TABLE, &defaults))
            .merge(Toml::file_exact(path))
            .merge(env)
            .extract_inner(TABLE)?;
        config.check()?;
        Ok(config)
    }

    /// Rules that span several keys.
    fn check(&self) -> Result<(), ConfigError> {
        let has_name = !self.admin_username.is_empty();
        let has_password = !self.admin_password.is_empty();
        let contact = &self.push_contact;
        let contact_ok = contact.is_empty()
            || contact
                .strip_prefix("mailto:")
                .is_some_and(|a| !a.is_empty())
            || contact
                .strip_prefix("https://")
                .is_some_and(|u| !u.is_empty());
        if !contact_ok {
            return Err(ConfigError::Invalid(format!(
                "invalid configuration: key `herald.push_contact` (HERALD_PUSH_CONTACT): \
                 `{contact}` must be a mailto: address or an https:// URL"
            )));
        }
        if has_name != has_password {
            return Err(ConfigError::Invalid(
                "invalid configuration: key `herald.admin_username` and `herald.admin_password` \
                 (HERALD_ADMIN_USERNAME, HERALD_ADMIN_PASSWORD) must be set together"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The database to open: `database_url`, else a SQLite file in `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("herald.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// SQLite's `max_page_count` for `max_database_bytes` (4 KiB pages; 0
    /// means no limit but the disk's).
    pub fn max_database_pages(&self) -> u64 {
        const PAGE: u64 = 4096;
        const UNLIMITED: u64 = 4_294_967_294;
        match self.max_database_bytes {
            0 => UNLIMITED,
            bytes => (bytes / PAGE).clamp(1, UNLIMITED),
        }
    }

    /// Most open client connections: `max_connections`, or when it is 0,
    /// the process's open-file limit less a reserve for the database,
    /// uploads and logs.
    pub fn connection_limit(&self, file_limit: u64) -> usize {
        if self.max_connections > 0 {
            return self.max_connections as usize;
        }
        let reserve = (file_limit / 4).min(256);
        usize::try_from(file_limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
    }

    /// Who push services may contact about Herald's pushes (the VAPID
    /// `sub` claim): `push_contact`, else `public_url` when it is https
    /// (Apple's service refuses a claim without one), else a mailto: for
    /// postmaster at its host.
    pub fn push_contact(&self) -> String {
        if !self.push_contact.is_empty() {
            return self.push_contact.clone();
        }
        if self.public_url.is_https() {
            return self.public_url.as_str().to_owned();
        }
        let host = self
            .public_url
            .as_str()
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .split([':', '/'])
            .next()
            .unwrap_or("localhost");
        format!("mailto:postmaster@{host}")
    }

    /// Grace period for in-flight requests at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// `HERALD_<KEY>` variables (and `DATABASE_URL`) as a figment provider. Keys
/// whose default is text keep the variable's text as is, so a numeric
/// password stays a string; other keys are parsed (numbers, booleans).
struct EnvOverrides {
    values: Dict,
}

impl EnvOverrides {
    fn new(defaults: &Config, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let shape = serde_json::to_value(defaults).unwrap_or_default();
        let fields = shape.as_object().cloned().unwrap_or_default();
        let text_keys: BTreeSet<&str> = fields
            .iter()
            .filter(|(_, v)| v.is_string())
            .map(|(k, _)| k.as_str())
            .collect();
        let mut values = Dict::new();
        let mut generic_database_url = None;
        for (name, raw) in vars {
            if name == "DATABASE_URL" {
                generic_database_url = Some(raw);
                continue;
            }
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_lowercase();
            if !fields.contains_key(&key) {
                // HERALD_CONFIG and variables of other tools are not settings.
                continue;
            }
            let value = if text_keys.contains(key.as_str()) {
                Value::from(raw)
            } else {
                raw.parse().unwrap_or_else(|_| Value::from(raw.clone()))
            };
            values.insert(key, value);
        }
        if let Some(url) = generic_database_url {
            values
                .entry("database_url".to_owned())
                .or_insert_with(|| Value::from(url));
        }
        Self { values }
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut table = Dict::new();
        table.insert(TABLE.to_owned(), Value::from(self.values.clone()));
        Ok(Profile::Default.collect(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn repo_file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    fn load(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(toml.as_bytes()).expect("write");
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_with_env(file.path(), vars)
    }

    #[test]
    fn shipped_file_loads_and_matches_defaults_for_addr_and_dir() {
        let config = Config::load_with_env(&repo_file("Leptos.toml"), []).expect("valid");
        assert_eq!(config.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.heartbeat_secs.duration(), Duration::from_secs(15));
    }

    #[test]
    fn every_key_of_the_shipped_file_is_documented_and_known() {
        let text = std::fs::read_to_string(repo_file("Leptos.toml")).unwrap();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let known = defaults.as_object().unwrap();
        let table: toml::Table = text.parse().unwrap();
        let herald = table[TABLE].as_table().unwrap();
        for key in known.keys() {
            assert!(herald.contains_key(key), "Leptos.toml lacks key {key}");
            let env_name = format!("{ENV_PREFIX}{}", key.to_uppercase());
            assert!(
                text.contains(&env_name),
                "Leptos.toml does not document {env_name}"
            );
        }
    }

    #[test]
    fn environment_overrides_file_with_typed_values() {
        let config = load(
            "[herald]\naddr = \"127.0.0.1:1\"\nheartbeat_secs = 10\n",
            &[
                ("HERALD_ADDR", "0.0.0.0:8080"),
                ("HERALD_HEARTBEAT_SECS", "5"),
                ("HERALD_ADMIN_USERNAME", "root"),
                ("HERALD_ADMIN_PASSWORD", "12345678"),
                ("HERALD_CONFIG", "ignored"),
                ("DATABASE_URL", "postgres://localhost/herald"),
            ],
        )
        .expect("valid");
        assert_eq!(config.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.heartbeat_secs.duration(), Duration::from_secs(5));
        assert_eq!(config.admin_password, "12345678");
        assert_eq!(config.database_url(), "postgres://localhost/herald");
    }

    #[test]
    fn herald_database_url_wins_over_generic_one() {
        let config = load(
            "",
            &[
                ("DATABASE_URL", "postgres://a/a"),
                ("HERALD_DATABASE_URL", "postgres://b/b"),
            ],
        )
        .unwrap();
        assert_eq!(config.database_url(), "postgres://b/b");
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let config = load("[herald]\ndata_dir = \"/tmp/x\"\n", &[]).unwrap();
        assert_eq!(config.database_url(), "sqlite:///tmp/x/herald.db");
    }

    fn error_of(toml: &str, vars: &[(&str, &str)]) -> String {
        match load(toml, vars) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_values_name_their_key_and_source() {
        let e = error_of("[herald]\nheartbeat_secs = 60\n", &[]);
        assert!(e.contains("herald.heartbeat_secs"), "{e}");
        assert!(e.contains("between 1 and 15"), "{e}");

        let e = error_of("", &[("HERALD_ADDR", "nowhere")]);
        assert!(e.contains("herald.addr"), "{e}");
        assert!(e.contains("HERALD_ADDR"), "{e}");

        let e = error_of("[herald]\nconnection_queue = 0\n", &[]);
        assert!(e.contains("herald.connection_queue"), "{e}");

        let e = error_of("[herald]\npublic_url = \"ftp://x\"\n", &[]);
        assert!(e.contains("herald.public_url"), "{e}");

        let e = error_of("[herald]\nlog_format = \"xml\"\n", &[]);
        assert!(e.contains("herald.log_format"), "{e}");
    }

    #[test]
    fn unknown_keys_and_broken_syntax_are_refused() {
        let e = error_of("[herald]\nheartbeat_sec = 5\n", &[]);
        assert!(e.contains("heartbeat_sec"), "{e}");

        let e = error_of("[herald\naddr = 1\n", &[]);
        assert!(e.contains("invalid configuration"), "{e}");
    }

    #[test]
    fn trusted_proxies_read_lists_and_comma_separated_variables() {
        let config = load(
            "[herald]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n",
            &[],
        )
        .unwrap();
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(config.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(!config.trusted_proxies.contains("11.0.0.1".parse().unwrap()));
        let config = load(
            "",
            &[("HERALD_TRUSTED_PROXIES", "127.0.0.1, 192.168.0.0/16")],
        )
        .unwrap();
        assert!(
            config
                .trusted_proxies
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(
            config
                .trusted_proxies
                .contains("::ffff:192.168.4.4".parse().unwrap())
        );
        assert!(Config::default().trusted_proxies.is_empty());
        let e = error_of("", &[("HERALD_TRUSTED_PROXIES", "10.0.0.0/8,nope")]);
        assert!(
            e.contains("herald.trusted_proxies") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn push_services_allow_their_hosts_only_over_https() {
        let defaults = Config::default().push_services;
        assert!(defaults.allows("https", "fcm.googleapis.com", None));
        assert!(defaults.allows("https", "web.push.apple.com", None));
        assert!(defaults.allows("https", "wns2-par02p.notify.windows.com", None));
        assert!(!defaults.allows("http", "fcm.googleapis.com", None));
        assert!(!defaults.allows("https", "fcm.googleapis.com", Some(8443)));
        assert!(!defaults.allows("https", "push.apple.com.evil.example", None));
        assert!(!defaults.allows("https", "evilpush.apple.com", None));
        assert!(!defaults.allows("https", "127.0.0.1", None));
        let config = load(
            "",
            &[(
                "HERALD_PUSH_SERVICES",
                "http://127.0.0.1:9000, *.push.example",
            )],
        )
        .unwrap();
        assert!(config.push_services.allows("http", "127.0.0.1", Some(9000)));
        assert!(!config.push_services.allows("http", "127.0.0.1", Some(9001)));
        assert!(config.push_services.allows("https", "a.push.example", None));
        assert!(
            !config
                .push_services
                .allows("https", "fcm.googleapis.com", None)
        );
        let e = error_of("", &[("HERALD_PUSH_SERVICES", "fcm.googleapis.com/x")]);
        assert!(e.contains("herald.push_services"), "{e}");
    }

    #[test]
    fn push_contact_is_a_mailto_or_https_and_has_a_fallback() {
        let e = error_of("", &[("HERALD_PUSH_CONTACT", "admin@example.com")]);
        assert!(e.contains("push_contact"), "{e}");
        let config = load("", &[("HERALD_PUSH_CONTACT", "mailto:ops@example.com")]).unwrap();
        assert_eq!(config.push_contact(), "mailto:ops@example.com");
        assert_eq!(
            Config::default().push_contact(),
            "mailto:postmaster@127.0.0.1"
        );
        let config = load("", &[("HERALD_PUBLIC_URL", "https://herald.example")]).unwrap();
        assert_eq!(config.push_contact(), "https://herald.example");
    }

    #[test]
    fn connection_limit_follows_the_file_limit_unless_set() {
        let config = Config::default();
        assert_eq!(config.connection_limit(20_000), 19_744);
        assert_eq!(config.connection_limit(512), 384);
        let fixed = load("[herald]\nmax_connections = 100\n", &[]).unwrap();
        assert_eq!(fixed.connection_limit(20_000), 100);
    }

    #[test]
    fn admin_name_and_password_come_together() {
        let e = error_of("", &[("HERALD_ADMIN_USERNAME", "root")]);
        assert!(e.contains("HERALD_ADMIN_PASSWORD"), "{e}");
    }

    #[test]
    fn missing_file_is_reported() {
        let e = Config::load_with_env(Path::new("/nonexistent/Leptos.toml"), []).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/Leptos.toml"));
    }

    /// cargo-leptos builds with Cargo.toml's table, the server runs with
    /// Leptos.toml's: where both name a key they must agree.
    #[test]
    fn leptos_keys_shared_with_cargo_toml_agree() {
        let leptos_table = |file: &str| -> toml::Table {
            let text = std::fs::read_to_string(repo_file(file)).unwrap();
            let doc: toml::Table = text.parse().unwrap();
            doc["package"]["metadata"]["leptos"]
                .as_table()
                .cloned()
                .unwrap_or_default()
        };
        let build = leptos_table("Cargo.toml");
        let runtime = leptos_table("Leptos.toml");
        let mut shared = 0;
        for (key, value) in &runtime {
            if key == "env" {
                // DEV for cargo-leptos' own builds, PROD for the served app.
                continue;
            }
            let Some(build_value) = build.get(key) else {
                panic!("Leptos.toml key {key} is not in Cargo.toml's table");
            };
            assert_eq!(build_value, value, "key {key} differs");
            shared += 1;
        }
        assert!(shared >= 4, "only {shared} shared keys");
    }
}
