//! ELBv2: load balancers, listeners, target groups, rules and SNI certificates.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, HostHeaderConditionConfig,
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, RulePriorityPair, Tag, TargetGroup,
};
use convox_model::backend::{BackendResult, CreatedLoadBalancer, ErrorKind};
use convox_model::resource::{
    DefaultAction, ListenerRuleSpec, ListenerSpec, LoadBalancerAddress, LoadBalancerSpec, Protocol,
    Tags, TargetGroupSpec,
};

use convox_model::aws::{ElbName, Quotas, check_elb_name};

use crate::error::{invalid, missing, send};

/// AWS's own limits, from the model's one table: refused here before a call
/// leaves the machine.
const MAX_PRIORITY: u32 = QUOTAS.max_rule_priority;
const MAX_HOSTS_PER_RULE: usize = QUOTAS.condition_values_per_rule;
const QUOTAS: Quotas = Quotas::AWS;

/// The tags for a create call: none at all rather than an empty list.
pub(crate) fn tags(tags: &Tags) -> Option<Vec<Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

fn protocol(p: Protocol) -> ProtocolEnum {
    match p {
        Protocol::Http => ProtocolEnum::Http,
        Protocol::Https => ProtocolEnum::Https,
    }
}

fn check_name(operation: &str, what: ElbName, name: &str) -> BackendResult<()> {
    check_elb_name(what, name).map_err(|e| invalid(operation, e.to_string()))
}

fn default_action(operation: &str, action: &DefaultAction) -> BackendResult<Action> {
    Ok(match action {
        DefaultAction::Redirect { port, status_code } => {
            let status = match status_code {
                301 => RedirectActionStatusCodeEnum::Http301,
                302 => RedirectActionStatusCodeEnum::Http302,
                other => {
                    return Err(invalid(
                        operation,
                        format!("a redirect's status must be 301 or 302, not {other}"),
                    ));
                }
            };
            Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port(port.to_string())
                        .status_code(status)
                        .build(),
                )
                .build()
        }
        DefaultAction::FixedResponse {
            status_code,
            content_type,
            body,
        } => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(status_code.to_string())
                    .content_type(content_type)
                    .message_body(body)
                    .build(),
            )
            .build(),
    })
}

/// The ARN of the first item a create call answers with.
fn first_arn<T>(
    operation: &str,
    what: &str,
    items: &[T],
    arn: impl Fn(&T) -> Option<&str>,
) -> BackendResult<String> {
    items
        .first()
        .and_then(arn)
        .map(str::to_string)
        .ok_or_else(|| missing(operation, what))
}

fn certificate(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

fn forward(target_group_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

fn host_condition(operation: &str, hosts: &[String]) -> BackendResult<RuleCondition> {
    if hosts.is_empty() || hosts.len() > MAX_HOSTS_PER_RULE {
        return Err(invalid(
            operation,
            format!(
                "a rule matches 1 to {MAX_HOSTS_PER_RULE} host names, not {}",
                hosts.len()
            ),
        ));
    }
    Ok(RuleCondition::builder()
        .field("host-header")
        .host_header_config(
            HostHeaderConditionConfig::builder()
                .set_values(Some(hosts.to_vec()))
                .build(),
        )
        .build())
}

fn check_priority(operation: &str, priority: u32) -> BackendResult<i32> {
    if !(1..=MAX_PRIORITY).contains(&priority) {
        return Err(invalid(
            operation,
            format!("rule priority {priority} is outside 1..={MAX_PRIORITY}"),
        ));
    }
    // In range, so it fits.
    Ok(priority as i32)
}

pub(crate) async fn create_load_balancer(
    elb: &Client,
    spec: &LoadBalancerSpec,
    security_group_id: &str,
    tag_set: &Tags,
) -> BackendResult<CreatedLoadBalancer> {
    const OP: &str = "CreateLoadBalancer";
    check_name(OP, ElbName::LoadBalancer, &spec.name)?;
    if spec.name.starts_with("internal-") {
        return Err(invalid(
            OP,
            format!(
                "load balancer name {:?} may not start with internal-",
                spec.name
            ),
        ));
    }
    let request = elb
        .create_load_balancer()
        .name(&spec.name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::from(spec.scheme.as_str()))
        .set_subnets(Some(spec.subnets.clone()))
        .security_groups(security_group_id)
        .set_tags(tags(tag_set));
    let out = send(OP, request.send()).await?;
    let lb = out
        .load_balancers()
        .first()
        .ok_or_else(|| missing(OP, "load balancer"))?;
    Ok(CreatedLoadBalancer {
        arn: lb
            .load_balancer_arn()
            .ok_or_else(|| missing(OP, "load balancer ARN"))?
            .to_string(),
        address: LoadBalancerAddress {
            dns_name: lb
                .dns_name()
                .ok_or_else(|| missing(OP, "DNS name"))?
                .to_string(),
            hosted_zone_id: lb
                .canonical_hosted_zone_id()
                .ok_or_else(|| missing(OP, "canonical hosted zone id"))?
                .to_string(),
        },
    })
}

pub(crate) async fn delete_load_balancer(elb: &Client, arn: &str) -> BackendResult<()> {
    let request = elb.delete_load_balancer().load_balancer_arn(arn);
    send("DeleteLoadBalancer", request.send()).await.map(drop)
}

// Day-2 safety (in place): a router's subnets and security groups change
// without replacing it.

/// See [`convox_model::backend::Backend::set_load_balancer_subnets`].
pub(crate) async fn set_load_balancer_subnets(
    elb: &Client,
    arn: &str,
    subnets: &[String],
) -> BackendResult<()> {
    const OP: &str = "SetSubnets";
    if subnets.is_empty() {
        return Err(invalid(OP, "a load balancer needs at least one subnet"));
    }
    let request = elb
        .set_subnets()
        .load_balancer_arn(arn)
        .set_subnets(Some(subnets.to_vec()));
    send(OP, request.send()).await.map(drop)
}

/// See [`convox_model::backend::Backend::set_load_balancer_security_groups`].
pub(crate) async fn set_load_balancer_security_groups(
    elb: &Client,
    arn: &str,
    security_group_ids: &[String],
) -> BackendResult<()> {
    const OP: &str = "SetSecurityGroups";
    if security_group_ids.is_empty() {
        return Err(invalid(
            OP,
            "an application load balancer needs at least one security group",
        ));
    }
    let request = elb
        .set_security_groups()
        .load_balancer_arn(arn)
        .set_security_groups(Some(security_group_ids.to_vec()));
    send(OP, request.send()).await.map(drop)
}

/// See [`convox_model::backend::Backend::set_load_balancer_tag`].
pub(crate) async fn set_load_balancer_tag(
    elb: &Client,
    arn: &str,
    key: &str,
    value: Option<&str>,
) -> BackendResult<()> {
    match value {
        Some(value) => {
            let tag = Tag::builder().key(key).value(value).build();
            let request = elb.add_tags().resource_arns(arn).tags(tag);
            send("AddTags", request.send()).await.map(drop)
        }
        None => {
            let request = elb.remove_tags().resource_arns(arn).tag_keys(key);
            send("RemoveTags", request.send()).await.map(drop)
        }
    }
}

pub(crate) async fn create_listener(
    elb: &Client,
    load_balancer_arn: &str,
    spec: &ListenerSpec,
    certificate_arn: Option<&str>,
    tag_set: &Tags,
) -> BackendResult<String> {
    const OP: &str = "CreateListener";
    check_listener_certificate(OP, spec, certificate_arn)?;
    let request = elb
        .create_listener()
        .load_balancer_arn(load_balancer_arn)
        .port(i32::from(spec.port))
        .protocol(protocol(spec.protocol))
        .default_actions(default_action(OP, &spec.default_action)?)
        .set_certificates(certificate_arn.map(|arn| vec![certificate(arn)]))
        .set_tags(tags(tag_set));
    let out = send(OP, request.send()).await?;
    first_arn(OP, "listener ARN", out.listeners(), |l| l.listener_arn())
}

fn check_listener_certificate(
    operation: &str,
    spec: &ListenerSpec,
    certificate_arn: Option<&str>,
) -> BackendResult<()> {
    match (spec.protocol, certificate_arn) {
        (Protocol::Https, None) => Err(invalid(
            operation,
            "an HTTPS listener needs a default certificate",
        )),
        (Protocol::Http, Some(_)) => Err(invalid(
            operation,
            "an HTTP listener cannot have a certificate",
        )),
        _ => Ok(()),
    }
}

pub(crate) async fn modify_listener(
    elb: &Client,
    arn: &str,
    spec: &ListenerSpec,
    certificate_arn: Option<&str>,
) -> BackendResult<()> {
    const OP: &str = "ModifyListener";
    check_listener_certificate(OP, spec, certificate_arn)?;
    let request = elb
        .modify_listener()
        .listener_arn(arn)
        .port(i32::from(spec.port))
        .protocol(protocol(spec.protocol))
        .default_actions(default_action(OP, &spec.default_action)?)
        .set_certificates(certificate_arn.map(|arn| vec![certificate(arn)]));
    send(OP, request.send()).await.map(drop)
}

pub(crate) async fn delete_listener(elb: &Client, arn: &str) -> BackendResult<()> {
    let request = elb.delete_listener().listener_arn(arn);
    send("DeleteListener", request.send()).await.map(drop)
}

pub(crate) async fn add_listener_certificate(
    elb: &Client,
    listener_arn: &str,
    certificate_arn: &str,
) -> BackendResult<()> {
    // AddListenerCertificates is idempotent on AWS: attaching twice succeeds.
    let request = elb
        .add_listener_certificates()
        .listener_arn(listener_arn)
        .certificates(certificate(certificate_arn));
    send("AddListenerCertificates", request.send())
        .await
        .map(drop)
}

pub(crate) async fn remove_listener_certificate(
    elb: &Client,
    listener_arn: &str,
    certificate_arn: &str,
) -> BackendResult<()> {
    let request = elb
        .remove_listener_certificates()
        .listener_arn(listener_arn)
        .certificates(certificate(certificate_arn));
    send("RemoveListenerCertificates", request.send())
        .await
        .map(drop)
}

pub(crate) async fn create_target_group(
    elb: &Client,
    spec: &TargetGroupSpec,
    tag_set: &Tags,
) -> BackendResult<String> {
    const OP: &str = "CreateTargetGroup";
    check_name(OP, ElbName::TargetGroup, &spec.name)?;
    let request = elb
        .create_target_group()
        .name(&spec.name)
        .protocol(protocol(spec.protocol))
        .port(i32::from(spec.port))
        .vpc_id(&spec.vpc_id)
        .health_check_path(&spec.health.path)
        .health_check_interval_seconds(seconds(OP, spec.health.interval)?)
        .health_check_timeout_seconds(seconds(OP, spec.health.timeout)?)
        .set_tags(tags(tag_set));
    let out = send(OP, request.send()).await?;
    first_arn(OP, "target group ARN", out.target_groups(), |t| {
        t.target_group_arn()
    })
}

fn seconds(operation: &str, s: u32) -> BackendResult<i32> {
    i32::try_from(s).map_err(|_| invalid(operation, format!("{s} seconds is out of range")))
}

pub(crate) async fn modify_target_group(
    elb: &Client,
    arn: &str,
    spec: &TargetGroupSpec,
) -> BackendResult<()> {
    const OP: &str = "ModifyTargetGroup";
    let request = elb
        .modify_target_group()
        .target_group_arn(arn)
        .health_check_path(&spec.health.path)
        .health_check_interval_seconds(seconds(OP, spec.health.interval)?)
        .health_check_timeout_seconds(seconds(OP, spec.health.timeout)?);
    send(OP, request.send()).await.map(drop)
}

/// The target groups `arns` names, 20 a call; one deleted since it was named is
/// left out.
pub(crate) async fn target_groups(
    elb: &Client,
    arns: &[String],
) -> BackendResult<Vec<TargetGroup>> {
    const OP: &str = "DescribeTargetGroups";
    let mut out = Vec::new();
    for chunk in arns.chunks(TARGET_GROUPS_PER_CALL) {
        let request = elb
            .describe_target_groups()
            .set_target_group_arns(Some(chunk.to_vec()));
        match send(OP, request.send()).await {
            Ok(page) => out.extend(page.target_groups().iter().cloned()),
            // One of them is gone, and AWS then answers for none: one by one.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                for arn in chunk {
                    let request = elb.describe_target_groups().target_group_arns(arn);
                    match send(OP, request.send()).await {
                        Ok(page) => out.extend(page.target_groups().iter().cloned()),
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Target groups asked for by ARN in one DescribeTargetGroups (AWS takes 20
/// names a call; the same bound is kept for ARNs).
const TARGET_GROUPS_PER_CALL: usize = 20;

pub(crate) async fn delete_target_group(elb: &Client, arn: &str) -> BackendResult<()> {
    let request = elb.delete_target_group().target_group_arn(arn);
    send("DeleteTargetGroup", request.send()).await.map(drop)
}

pub(crate) async fn create_rule(
    elb: &Client,
    listener_arn: &str,
    spec: &ListenerRuleSpec,
    target_group_arn: &str,
    tag_set: &Tags,
) -> BackendResult<String> {
    const OP: &str = "CreateRule";
    let priority = spec
        .priority
        .ok_or_else(|| invalid(OP, "a rule needs a priority before it is created"))?;
    let request = elb
        .create_rule()
        .listener_arn(listener_arn)
        .priority(check_priority(OP, priority)?)
        .conditions(host_condition(OP, &spec.hosts)?)
        .actions(forward(target_group_arn))
        .set_tags(tags(tag_set));
    let out = send(OP, request.send()).await?;
    first_arn(OP, "rule ARN", out.rules(), |r| r.rule_arn())
}

pub(crate) async fn modify_rule(
    elb: &Client,
    arn: &str,
    spec: &ListenerRuleSpec,
    target_group_arn: &str,
) -> BackendResult<()> {
    const OP: &str = "ModifyRule";
    let request = elb
        .modify_rule()
        .rule_arn(arn)
        .conditions(host_condition(OP, &spec.hosts)?)
        .actions(forward(target_group_arn));
    send(OP, request.send()).await.map(drop)
}

pub(crate) async fn set_rule_priority(elb: &Client, arn: &str, priority: u32) -> BackendResult<()> {
    const OP: &str = "SetRulePriorities";
    let pair = RulePriorityPair::builder()
        .rule_arn(arn)
        .priority(check_priority(OP, priority)?)
        .build();
    let request = elb.set_rule_priorities().rule_priorities(pair);
    send(OP, request.send()).await.map(drop)
}

pub(crate) async fn delete_rule(elb: &Client, arn: &str) -> BackendResult<()> {
    let request = elb.delete_rule().rule_arn(arn);
    send("DeleteRule", request.send()).await.map(drop)
}
