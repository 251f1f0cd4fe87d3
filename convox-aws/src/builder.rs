//! [`AwsBackendBuilder`]: where the backend's settings come from, checked once.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use convox_model::aws::Quotas;

use crate::AwsBackend;
use crate::calls::{Counter, PacedIdentityCache, RequestHook};
use crate::pacing::{Pacer, Pacing, Service};

/// Why [`AwsBackendBuilder::build`] refused its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No region was given and none was found in the environment.
    #[error(
        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region), or call with_region"
    )]
    MissingRegion,
    /// No credentials were given (only checked without `from_env`, where the
    /// standard chain finds them lazily).
    #[error("no AWS credentials: call with_credentials, or start from from_env()")]
    MissingCredentials,
    /// The endpoint override is not an http(s) URL.
    #[error("endpoint URL {0:?} must start with http:// or https:// and name a host")]
    InvalidEndpoint(String),
    /// A header name or value that HTTP does not allow.
    #[error("header {0:?} is not a valid HTTP header name and value")]
    InvalidHeader(String),
    /// Zero attempts would never send a request.
    #[error("max attempts must be at least 1")]
    ZeroAttempts,
    /// A pacing rate with no burst, or a rate that is not a positive number of
    /// calls a second.
    #[error("pacing for {0} must allow a burst of at least 1 and a positive, finite rate")]
    InvalidPacing(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The SDK's standard retry: 3 attempts with backoff on throttling and
    /// transient errors.
    Standard,
    /// Standard retry with this many attempts (1 = no retry).
    Attempts(u32),
    /// The SDK's adaptive mode: standard retry plus a client-side rate limiter
    /// that slows every later request once AWS has throttled one.
    Adaptive(u32),
}

/// Builds an [`AwsBackend`].
///
/// [`AwsBackendBuilder::from_env`] starts from the standard AWS chain (environment,
/// profile, container and instance credentials; `AWS_ENDPOINT_URL` included);
/// [`AwsBackendBuilder::new`] starts from nothing, for hermetic use. The `with_*`
/// setters override either; [`AwsBackendBuilder::build`] checks the result.
///
/// ```no_run
/// # async fn demo() -> Result<(), convox_aws::BuildError> {
/// let backend = convox_aws::AwsBackendBuilder::from_env()
///     .with_region("us-east-1")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AwsBackendBuilder {
    from_env: bool,
    region: Option<String>,
    endpoint_url: Option<String>,
    credentials: Option<StaticCredentials>,
    retry: Retry,
    headers: Vec<(String, String)>,
    /// `None`: no client-side pacing.
    pacing: Option<Pacing>,
    /// What the planner plans against (router pools).
    quotas: Quotas,
    #[cfg(test)]
    http_client: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
}

/// An access key given to the builder. Its `Debug` shows the key id and never
/// the secret: a builder logged or printed in a panic leaks nothing.
#[derive(Clone)]
struct StaticCredentials {
    access_key_id: String,
    secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"(redacted)")
            .finish()
    }
}

impl Default for AwsBackendBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AwsBackendBuilder {
    /// A builder that reads nothing from the environment: region and credentials
    /// must be given.
    pub fn new() -> Self {
        AwsBackendBuilder {
            from_env: false,
            region: None,
            endpoint_url: None,
            credentials: None,
            retry: Retry::Standard,
            headers: Vec::new(),
            pacing: Some(Pacing::aws_defaults()),
            quotas: Quotas::AWS,
            #[cfg(test)]
            http_client: None,
        }
    }

    /// A builder that starts from the standard AWS configuration chain, as the AWS
    /// CLI does: `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, credentials from the
    /// environment, the shared files, the container or the instance.
    pub fn from_env() -> Self {
        AwsBackendBuilder {
            from_env: true,
            ..Self::new()
        }
    }

    /// The region, such as `us-east-1`.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every request to this endpoint instead of AWS (an emulator such as
    /// moto: `http://127.0.0.1:5000`).
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Static credentials.
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.credentials = Some(StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        });
        self
    }

    /// One attempt per request, reads included: the caller retries them (the
    /// apply engine retries its reads when the backend does not,
    /// [`Backend::retries_reads`](convox_model::backend::Backend::retries_reads)).
    pub fn with_retry_disabled(self) -> Self {
        self.with_max_attempts(1)
    }

    /// At most `attempts` attempts per read (3 by default), with the SDK's
    /// backoff between them. Mutations are sent once per attempt of the apply
    /// engine's, which retries them ([`crate::sdk_retries`]): one retry layer
    /// per call.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.retry = Retry::Attempts(attempts);
        self
    }

    /// Paces requests client-side once AWS throttles (the SDK's adaptive retry
    /// mode, its rate limiter on mutations too), with at most `attempts`
    /// attempts per read: for large applies,
    /// where ELBv2's 3-per-second mutation rate is the limit.
    pub fn with_adaptive_retry(mut self, attempts: u32) -> Self {
        self.retry = Retry::Adaptive(attempts);
        self
    }

    /// Paces requests client-side at these rates, one token bucket per API family
    /// shared by every clone of the backend. On by default at AWS's documented
    /// rates ([`Pacing::aws_defaults`]).
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Sends requests as fast as the caller makes them: for emulators, or when
    /// something outside paces the calls.
    pub fn with_pacing_disabled(mut self) -> Self {
        self.pacing = None;
        self
    }

    /// Adds a header to every request (for an emulator: moto's
    /// `x-moto-account-id` picks the account a request acts in).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Plans against `quotas` instead of AWS's defaults ([`Quotas::AWS`]): the
    /// backend's [`quotas`](convox_model::backend::Backend::quotas), which
    /// decide how many services and certificates each load balancer of a
    /// router's pool takes and how many load balancers the region allows.
    ///
    /// For an account whose adjustable quotas AWS raised (rules and
    /// certificates per load balancer, load balancers per region), and for
    /// tests that reach a limit with a few apps, since emulators enforce none.
    /// AWS's hard limits do not move: a load balancer's rules forward to at
    /// most 100 target groups whatever is asked, so a higher
    /// `target_groups_per_load_balancer` only makes AWS refuse the apply.
    ///
    /// ```
    /// use convox_model::aws::Quotas;
    /// let raised = Quotas {
    ///     certificates_per_load_balancer: 50,
    ///     ..Quotas::AWS
    /// };
    /// let builder = convox_aws::AwsBackendBuilder::from_env().with_quotas(raised);
    /// ```
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Replaces the HTTP client: unit tests answer requests with canned responses.
    #[cfg(test)]
    pub(crate) fn with_http_client(
        mut self,
        client: aws_smithy_runtime_api::client::http::SharedHttpClient,
    ) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Checks the settings and makes the backend.
    ///
    /// Async because the standard chain may have to look the region up.
    pub async fn build(self) -> Result<AwsBackend, BuildError> {
        if let Some(url) = &self.endpoint_url {
            check_endpoint(url)?;
        }
        for (name, value) in &self.headers {
            if !valid_header(name, value) {
                return Err(BuildError::InvalidHeader(name.clone()));
            }
        }
        if matches!(self.retry, Retry::Attempts(0) | Retry::Adaptive(0)) {
            return Err(BuildError::ZeroAttempts);
        }
        let pacer = match &self.pacing {
            Some(p) => Some(Arc::new(Pacer::new(p).map_err(BuildError::InvalidPacing)?)),
            None => None,
        };
        let retries_reads = !matches!(self.retry, Retry::Attempts(1) | Retry::Adaptive(1));
        let retry = match self.retry {
            Retry::Standard => RetryConfig::standard(),
            Retry::Attempts(n) => RetryConfig::standard().with_max_attempts(n),
            Retry::Adaptive(n) => RetryConfig::adaptive().with_max_attempts(n),
        };
        let credentials = self.credentials.as_ref().map(|c| {
            SharedCredentialsProvider::new(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "convox-aws",
            ))
        });

        let sdk: SdkConfig = if self.from_env {
            let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
            // Explicit settings beat the chain; the region especially, so that a
            // test or an embedding tool never waits on an instance-metadata lookup.
            if let Some(r) = &self.region {
                loader = loader.region(Region::new(r.clone()));
            }
            if let Some(url) = &self.endpoint_url {
                loader = loader.endpoint_url(url.clone());
            }
            if let Some(c) = credentials {
                loader = loader.credentials_provider(c);
            }
            loader.load().await
        } else {
            let mut b = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .retry_config(retry)
                .region(self.region.clone().map(Region::new));
            if let Some(url) = &self.endpoint_url {
                b = b.endpoint_url(url.clone());
            }
            if self.region.is_none() {
                return Err(BuildError::MissingRegion);
            }
            match credentials {
                Some(c) => b = b.credentials_provider(c),
                None => return Err(BuildError::MissingCredentials),
            }
            b.build()
        };
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_string())
            .filter(|r| !r.is_empty())
            .ok_or(BuildError::MissingRegion)?;
        if let Some(url) = sdk.endpoint_url() {
            check_endpoint(url)?;
        }

        let counter = Arc::new(Counter::default());
        let hook = RequestHook {
            counter: counter.clone(),
            headers: self.headers.clone(),
        };

        // Wrapped, not replaced: credentials are still cached as the chain set up.
        let identity_cache = sdk
            .identity_cache()
            .unwrap_or_else(|| aws_config::identity::IdentityCache::lazy().build());

        macro_rules! client {
            ($krate:ident, $service:expr) => {{
                let mut conf = $krate::config::Builder::from(&sdk).interceptor(hook.clone());
                if let Some(pacer) = &pacer {
                    conf = conf.identity_cache(PacedIdentityCache {
                        inner: identity_cache.clone(),
                        pacer: pacer.clone(),
                        service: $service,
                    });
                }
                #[cfg(test)]
                if let Some(http) = &self.http_client {
                    conf = conf.http_client(http.clone());
                }
                $krate::Client::from_conf(conf.build())
            }};
        }

        Ok(AwsBackend {
            elb: client!(aws_sdk_elasticloadbalancingv2, Service::Elb),
            route53: client!(aws_sdk_route53, Service::Route53),
            acm: client!(aws_sdk_acm, Service::Acm),
            ec2: client!(aws_sdk_ec2, Service::Ec2),
            tagging: client!(aws_sdk_resourcegroupstagging, Service::Tagging),
            region,
            counter,
            quotas: self.quotas,
            retries_reads,
        })
    }
}

fn check_endpoint(url: &str) -> Result<(), BuildError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(BuildError::InvalidEndpoint(url.to_string())),
    }
}

fn valid_header(name: &str, value: &str) -> bool {
    // RFC 9110 token characters for the name; visible ASCII and spaces for the value.
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    !name.is_empty()
        && name.chars().all(token)
        && value
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn refused(builder: AwsBackendBuilder) -> BuildError {
        builder.build().await.unwrap_err()
    }

    #[test]
    fn the_builder_never_shows_the_secret() {
        let b = AwsBackendBuilder::new().with_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI-secret");
        let shown = format!("{b:?}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI-secret"), "{shown}");
        assert!(shown.contains("(redacted)"), "{shown}");
    }

    #[tokio::test]
    async fn build_refuses_what_cannot_work() {
        let ok = || AwsBackendBuilder::new().with_credentials("a", "b");
        let us = || ok().with_region("us-east-1");
        assert_eq!(
            refused(ok()).await,
            BuildError::MissingRegion,
            "region is required"
        );
        assert_eq!(
            refused(AwsBackendBuilder::new().with_region("us-east-1")).await,
            BuildError::MissingCredentials
        );
        assert!(matches!(
            refused(us().with_endpoint_url("127.0.0.1:5000")).await,
            BuildError::InvalidEndpoint(_)
        ));
        assert!(matches!(
            refused(us().with_header("bad header", "x")).await,
            BuildError::InvalidHeader(_)
        ));
        assert_eq!(
            refused(us().with_max_attempts(0)).await,
            BuildError::ZeroAttempts
        );
        let b = ok()
            .with_region("eu-west-1")
            .with_endpoint_url("http://127.0.0.1:5000")
            .with_header("x-moto-account-id", "123456789012")
            .with_retry_disabled()
            .build()
            .await
            .unwrap();
        assert_eq!(b.region(), "eu-west-1");
        assert_eq!(
            refused(us().with_adaptive_retry(0)).await,
            BuildError::ZeroAttempts
        );
        us().with_adaptive_retry(5).build().await.unwrap();
        let mut pacing = Pacing::aws_defaults();
        pacing.route53 = crate::Rate::new(10, 0.0);
        assert_eq!(
            refused(us().with_pacing(pacing)).await,
            BuildError::InvalidPacing("route53")
        );
        us().with_pacing_disabled().build().await.unwrap();
    }

    #[tokio::test]
    async fn quotas_are_aws_defaults_unless_given() {
        use convox_model::backend::Backend;
        let us = || {
            AwsBackendBuilder::new()
                .with_credentials("a", "b")
                .with_region("us-east-1")
        };
        assert_eq!(us().build().await.unwrap().quotas(), Quotas::AWS);
        let small = Quotas {
            target_groups_per_load_balancer: 5,
            rules_per_load_balancer: 5,
            certificates_per_load_balancer: 2,
            ..Quotas::AWS
        };
        let b = us().with_quotas(small.clone()).build().await.unwrap();
        assert_eq!(b.quotas(), small);
        // Clones share them.
        assert_eq!(b.clone().quotas(), small);
    }
}
