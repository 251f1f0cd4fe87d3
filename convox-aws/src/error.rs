//! AWS errors, mapped to [`BackendError`] by one pure table.
//!
//! Every SDK error passes through [`classify`]: the operation, the error code AWS
//! sent (ELBv2 `PriorityInUse`, Route53 `InvalidChangeBatch`, EC2
//! `InvalidGroup.NotFound`, …) and the HTTP status decide the [`ErrorKind`] and
//! whether a retry may help. The SDK error itself stays behind
//! [`std::error::Error::source`]; its type never reaches our API.

use std::future::Future;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use convox_model::backend::{BackendError, ErrorKind};

/// What one failed AWS call looked like, as far as the table needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsFailure<'a> {
    /// The operation, such as `CreateRule`.
    pub operation: &'a str,
    /// The error code AWS sent, if a response was parsed.
    pub code: Option<&'a str>,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// AWS's message; only Route53's `InvalidChangeBatch` needs it, because that one
    /// code covers both "already exists / not found" and "name not in zone".
    pub message: Option<&'a str>,
}

/// The table: an AWS failure's kind and whether a retry may help.
///
/// Pure, so that every row is unit-tested without a network.
pub fn classify(failure: &AwsFailure<'_>) -> (ErrorKind, bool) {
    use ErrorKind::*;
    let by_code = failure.code.and_then(|code| match code {
        // Throttling, in each service's spelling. Route53 answers a change made
        // too soon after another with PriorRequestNotComplete: the same advice.
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "TooManyRequests"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "PriorRequestNotComplete" => Some((Throttled, true)),

        // The provider's own trouble: try again.
        "InternalFailure"
        | "InternalError"
        | "InternalErrorException"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "Unavailable"
        | "RequestTimeout"
        | "RequestTimeoutException" => Some((Unexpected, true)),

        "LoadBalancerNotFound"
        | "ListenerNotFound"
        | "RuleNotFound"
        | "TargetGroupNotFound"
        | "CertificateNotFound"
        | "ResourceNotFound"
        | "ResourceNotFoundException"
        | "NoSuchHostedZone"
        | "NoSuchChange"
        | "InvalidGroup.NotFound"
        | "InvalidGroupId.NotFound"
        | "InvalidPermission.NotFound"
        | "InvalidVpcID.NotFound"
        | "InvalidSubnetID.NotFound"
        | "SubnetNotFound" => Some((NotFound, false)),

        "DuplicateLoadBalancerName"
        | "DuplicateListener"
        | "DuplicateTargetGroupName"
        | "HostedZoneAlreadyExists"
        | "ConflictingDomainExists"
        | "InvalidGroup.Duplicate"
        | "InvalidPermission.Duplicate" => Some((AlreadyExists, false)),

        // Route53 uses one code for two different problems.
        "InvalidChangeBatch" => Some(invalid_change_batch(failure.message)),

        "PriorityInUse"
        | "ResourceInUse"
        | "ResourceInUseException"
        | "HostedZoneNotEmpty"
        | "DependencyViolation"
        | "InvalidGroup.InUse"
        | "OperationNotPermitted"
        | "ConcurrentModification" => Some((Conflict, false)),
        // ACM is still working on the certificate: it will be done soon.
        "RequestInProgressException" => Some((Conflict, true)),

        "TooManyRules"
        | "TooManyTargetGroups"
        | "TooManyCertificates"
        | "TooManyListeners"
        | "TooManyLoadBalancers"
        | "TooManyTags"
        | "TooManyActions"
        | "TooManyHostedZones"
        | "LimitExceededException"
        | "LimitsExceeded"
        | "RulesPerSecurityGroupLimitExceeded"
        | "SecurityGroupLimitExceeded"
        | "TargetGroupAssociationLimit" => Some((QuotaExceeded, false)),

        "ValidationError"
        | "ValidationException"
        | "InvalidConfigurationRequest"
        | "InvalidInput"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameterException"
        | "InvalidParameter"
        | "MissingParameter"
        | "InvalidArnException"
        | "InvalidTagException"
        | "TagPolicyException"
        | "InvalidDomainValidationOptionsException"
        | "InvalidSubnet"
        | "InvalidSecurityGroup"
        | "InvalidScheme"
        | "UnsupportedProtocol"
        | "IncompatibleProtocols"
        | "InvalidLoadBalancerAction"
        | "DuplicateTagKeys"
        | "InvalidVPCId"
        | "InvalidDomainName" => Some((InvalidInput, false)),

        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "AuthFailure"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "OptInRequired" => Some((Permission, false)),

        _ => None,
    });
    if let Some(found) = by_code {
        return found;
    }
    // An unknown code (or none): the status says what kind of trouble it is.
    match failure.status {
        Some(429) => (Throttled, true),
        Some(s) if s >= 500 => (Unexpected, true),
        Some(403) => (Permission, false),
        Some(404) => (NotFound, false),
        Some(409) => (Conflict, false),
        Some(400) => (InvalidInput, false),
        // No response at all: a timeout or a dropped connection.
        None => (Unexpected, true),
        Some(_) => (Unexpected, false),
    }
}

/// Route53's `InvalidChangeBatch`: CREATE of an existing record or DELETE of a
/// missing one is a conflict with the zone's state; anything else (a name outside
/// the zone, a malformed value) is bad input.
fn invalid_change_batch(message: Option<&str>) -> (ErrorKind, bool) {
    let m = message.unwrap_or_default().to_ascii_lowercase();
    if m.contains("already exists") || m.contains("not found") || m.contains("do not match") {
        (ErrorKind::Conflict, false)
    } else {
        (ErrorKind::InvalidInput, false)
    }
}

/// Turns an SDK error into a [`BackendError`] through [`classify`].
pub(crate) fn from_sdk<E>(operation: &str, err: SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, aws_message, what) = match &err {
        SdkError::ServiceError(e) => (
            e.err().code().map(str::to_owned),
            e.err().message().map(str::to_owned),
            "AWS refused the request",
        ),
        SdkError::ConstructionFailure(_) => (None, None, "the request could not be built"),
        SdkError::TimeoutError(_) => (None, None, "the request timed out"),
        SdkError::DispatchFailure(_) => (None, None, "the request could not be sent"),
        SdkError::ResponseError(_) => (None, None, "the response could not be read"),
        _ => (None, None, "the request failed"),
    };
    let (kind, retryable) = if matches!(err, SdkError::ConstructionFailure(_)) {
        // Built locally from our input: retrying builds the same bad request.
        (ErrorKind::InvalidInput, false)
    } else {
        classify(&AwsFailure {
            operation,
            code: code.as_deref(),
            status,
            message: aws_message.as_deref(),
        })
    };
    // The code and status identify the failure; AWS's own words stay in the
    // source so that a chain printer shows them once.
    let message = match (&code, status) {
        (Some(c), Some(s)) => format!("{what}: {c} (HTTP {s})"),
        (Some(c), None) => format!("{what}: {c}"),
        (None, Some(s)) => format!("{what} (HTTP {s})"),
        (None, None) => what.to_string(),
    };
    tracing::debug!(
        operation,
        code = code.as_deref().unwrap_or("-"),
        status = status.unwrap_or(0),
        %kind,
        retryable,
        "AWS call failed"
    );
    BackendError::new(kind, operation, message)
        .retryable(retryable)
        .with_source(err)
}

/// Awaits a request (`client.op().send()`, or a paginator's
/// `send().try_collect()`) and maps its failure through [`classify`]: the one way
/// every call reaches AWS.
pub(crate) async fn send<T, E>(
    operation: &str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, BackendError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    request.await.map_err(|e| from_sdk(operation, e))
}

/// A request we refuse to send: our input breaks a rule AWS would also enforce.
pub(crate) fn invalid(operation: &str, message: impl Into<String>) -> BackendError {
    BackendError::new(ErrorKind::InvalidInput, operation, message)
}

/// AWS answered without something its API promises.
pub(crate) fn missing(operation: &str, what: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Unexpected,
        operation,
        format!("the response has no {what}"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(operation: &str, code: &str, status: u16) -> (ErrorKind, bool) {
        classify(&AwsFailure {
            operation,
            code: Some(code),
            status: Some(status),
            message: None,
        })
    }

    #[test]
    fn throttling_in_every_spelling_is_retryable() {
        for (op, code) in [
            ("CreateRule", "Throttling"),
            ("ImportCertificate", "ThrottlingException"),
            ("ListCertificates", "TooManyRequestsException"),
            ("AuthorizeSecurityGroupIngress", "RequestLimitExceeded"),
            ("ChangeResourceRecordSets", "PriorRequestNotComplete"),
            ("ChangeResourceRecordSets", "Throttling"),
        ] {
            assert_eq!(kind(op, code, 400), (ErrorKind::Throttled, true), "{code}");
        }
    }

    #[test]
    fn server_errors_and_lost_responses_are_retryable() {
        assert_eq!(
            kind("DescribeRules", "InternalFailure", 500),
            (ErrorKind::Unexpected, true)
        );
        let no_response = AwsFailure {
            operation: "DescribeRules",
            code: None,
            status: None,
            message: None,
        };
        assert_eq!(classify(&no_response), (ErrorKind::Unexpected, true));
        let bad_gateway = AwsFailure {
            status: Some(502),
            ..no_response
        };
        assert_eq!(classify(&bad_gateway), (ErrorKind::Unexpected, true));
    }

    /// Every code the table names, read from this file's source: the match
    /// arms of `classify`.
    fn table_codes() -> Vec<&'static str> {
        let src = include_str!("error.rs");
        let body = &src[src.find("let by_code").unwrap_or(0)..];
        let body = &body[..body.find("_ => None").unwrap_or(body.len())];
        body.lines()
            .map(str::trim)
            .filter(|l| l.starts_with('"') || l.starts_with("| \""))
            .filter_map(|l| l.split('"').nth(1))
            .collect()
    }

    /// What AWS's naming says a code is, where it says anything: an oracle
    /// independent of the table, which every row it applies to must agree with.
    fn by_name(code: &str) -> Option<(ErrorKind, bool)> {
        use ErrorKind::*;
        let ends = |s: &str| code.ends_with(s);
        let starts = |s: &str| code.starts_with(s);
        if starts("Throttl") || ends("Throttled") || ends("ThrottledException") {
            return Some((Throttled, true));
        }
        if starts("Internal") || starts("ServiceUnavailable") || starts("RequestTimeout") {
            return Some((Unexpected, true));
        }
        if ends("NotFound") || ends("NotFoundException") || starts("NoSuch") {
            return Some((NotFound, false));
        }
        if starts("Duplicate") && code != "DuplicateTagKeys"
            || ends("AlreadyExists")
            || ends(".Duplicate")
        {
            return Some((AlreadyExists, false));
        }
        if starts("TooMany") && !code.contains("Requests")
            || code.contains("LimitExceeded") && code != "RequestLimitExceeded"
        {
            return Some((QuotaExceeded, false));
        }
        if starts("AccessDenied") || starts("Unauthorized") || starts("Expired") {
            return Some((Permission, false));
        }
        None
    }

    #[test]
    fn every_row_the_naming_speaks_for_agrees_with_it() {
        let codes = table_codes();
        assert!(codes.len() > 60, "read {} codes: {codes:?}", codes.len());
        let mut checked = 0;
        for code in &codes {
            if let Some(want) = by_name(code) {
                assert_eq!(kind("AnyOperation", code, 400), want, "{code}");
                checked += 1;
            }
        }
        assert!(
            checked > 40,
            "the naming spoke for {checked} of {}",
            codes.len()
        );
        // A code the table does not know falls back on the status.
        assert_eq!(
            kind("AnyOperation", "SomethingNew", 404),
            (ErrorKind::NotFound, false)
        );
    }

    /// The judgement calls the naming cannot make, each for a reason.
    #[test]
    fn the_judgement_calls_are_pinned() {
        use ErrorKind::*;
        for (op, code, want) in [
            // Another rule holds the priority: plan again (contention).
            ("CreateRule", "PriorityInUse", (Conflict, false)),
            // In use, not empty, depended on: the state of the world, not input.
            ("DeleteTargetGroup", "ResourceInUse", (Conflict, false)),
            ("DeleteHostedZone", "HostedZoneNotEmpty", (Conflict, false)),
            (
                "DeleteSecurityGroup",
                "DependencyViolation",
                (Conflict, false),
            ),
            // ACM is still working on it: soon done, retry.
            (
                "DeleteCertificate",
                "RequestInProgressException",
                (Conflict, true),
            ),
            // Route53's slow-down, and the generic request-rate code.
            (
                "ChangeResourceRecordSets",
                "PriorRequestNotComplete",
                (Throttled, true),
            ),
            (
                "AuthorizeSecurityGroupIngress",
                "RequestLimitExceeded",
                (Throttled, true),
            ),
            (
                "ListCertificates",
                "TooManyRequestsException",
                (Throttled, true),
            ),
            // ACM's quota is spelled as a limit.
            (
                "ImportCertificate",
                "LimitExceededException",
                (QuotaExceeded, false),
            ),
            // Bad input, though the name says "duplicate" or "invalid id".
            (
                "CreateLoadBalancer",
                "DuplicateTagKeys",
                (InvalidInput, false),
            ),
            (
                "CreateListener",
                "InvalidConfigurationRequest",
                (InvalidInput, false),
            ),
            (
                "DescribeSecurityGroups",
                "UnauthorizedOperation",
                (Permission, false),
            ),
            (
                "GetCallerIdentity",
                "InvalidClientTokenId",
                (Permission, false),
            ),
        ] {
            assert_eq!(kind(op, code, 400), want, "{op} {code}");
        }
    }

    #[test]
    fn invalid_change_batch_depends_on_what_was_wrong() {
        let batch = |message| {
            classify(&AwsFailure {
                operation: "ChangeResourceRecordSets",
                code: Some("InvalidChangeBatch"),
                status: Some(400),
                message: Some(message),
            })
        };
        assert_eq!(
            batch(
                "[Tried to create resource record set [name='api.backend.production.convox.', type='A'] but it already exists]"
            ),
            (ErrorKind::Conflict, false)
        );
        assert_eq!(
            batch(
                "[Tried to delete resource record set [name='api.backend.production.convox.', type='A'] but it was not found]"
            ),
            (ErrorKind::Conflict, false)
        );
        assert_eq!(
            batch(
                "[RRSet with DNS name a.example.com. is not permitted in zone production.convox.]"
            ),
            (ErrorKind::InvalidInput, false)
        );
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        assert_eq!(kind("X", "Weird", 429), (ErrorKind::Throttled, true));
        assert_eq!(kind("X", "Weird", 503), (ErrorKind::Unexpected, true));
        assert_eq!(kind("X", "Weird", 403), (ErrorKind::Permission, false));
        assert_eq!(kind("X", "Weird", 404), (ErrorKind::NotFound, false));
        assert_eq!(kind("X", "Weird", 409), (ErrorKind::Conflict, false));
        assert_eq!(kind("X", "Weird", 400), (ErrorKind::InvalidInput, false));
        assert_eq!(kind("X", "Weird", 301), (ErrorKind::Unexpected, false));
    }
}
