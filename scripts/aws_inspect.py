#!/usr/bin/env python3
"""Print, as JSON, what AWS itself reports about a rack: an independent check.

    aws_inspect.py ENDPOINT_URL ACCOUNT_ID [--region R] [--rack NAME]

This is a second client, boto3, that shares nothing with the Rust backend: no
SDK, no tag conventions, no parsing of our own. It lists every Application
Load Balancer in the account (scheme, security groups and their ingress,
listeners with their default actions and certificates, rules with their
host-header values and targets), every hosted zone (private or not, its VPCs,
its records) and the ACM certificates that listeners use (domain name and
subject alternative names). With --rack only the zone `{rack}.convox.` is
listed; load balancers are listed regardless, so that foreign ones show too.

ACCOUNT_ID is sent as moto's `x-moto-account-id` header on every request, so
that the script sees the same account as the test that created the resources.
Against real AWS pass an empty string and the header is left out.
"""

import argparse
import json
import sys

import boto3
from botocore.config import Config


def client(service, endpoint, region, account):
    c = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        # One attempt: a failure here should show, not be papered over.
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    if account:
        # before-sign runs for every request (and every page) after it is built
        # and before it is signed and sent: the header reaches moto on each.
        def add_account(request, **_):
            request.headers["x-moto-account-id"] = account

        c.meta.events.register("before-sign.*.*", add_account)
    return c


def pages(c, operation, key, **kwargs):
    for page in c.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


# Per kind of action with a configuration: where AWS puts it, and the fields a
# reader checks (the name here, AWS's name).
ACTION_CONFIGS = {
    "redirect": (
        "RedirectConfig",
        {"protocol": "Protocol", "port": "Port", "status_code": "StatusCode"},
    ),
    "fixed-response": (
        "FixedResponseConfig",
        {"status_code": "StatusCode", "content_type": "ContentType", "message_body": "MessageBody"},
    ),
}


def action(a):
    """A listener or rule action, reduced to what a reader checks."""
    out = {"type": a["Type"]}
    if a["Type"] in ACTION_CONFIGS:
        key, fields = ACTION_CONFIGS[a["Type"]]
        config = a[key]
        out.update({ours: config.get(theirs) for ours, theirs in fields.items()})
    elif a["Type"] == "forward":
        groups = [t["TargetGroupArn"] for t in a.get("ForwardConfig", {}).get("TargetGroups", [])]
        if a.get("TargetGroupArn") and a["TargetGroupArn"] not in groups:
            groups.insert(0, a["TargetGroupArn"])
        out.update(target_groups=groups)
    return out


def certificate(acm, arn, cache):
    if arn not in cache:
        try:
            d = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            cache[arn] = {
                "domain_name": d.get("DomainName"),
                "subject_alternative_names": d.get("SubjectAlternativeNames", []),
                "type": d.get("Type"),
            }
        except acm.exceptions.ResourceNotFoundException:
            cache[arn] = {"missing": True}
    return dict(cache[arn])


def tags_by_arn(elb, arns):
    out = {}
    # DescribeTags takes at most 20 ARNs.
    for i in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = {t["Key"]: t["Value"] for t in d.get("Tags", [])}
    return out


def security_group(ec2, group_id):
    g = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return {
        "id": g["GroupId"],
        "name": g.get("GroupName"),
        "vpc_id": g.get("VpcId"),
        "ingress": [
            {
                "protocol": p.get("IpProtocol"),
                "from_port": p.get("FromPort"),
                "to_port": p.get("ToPort"),
                "cidrs": sorted(r["CidrIp"] for r in p.get("IpRanges", [])),
                "ipv6_cidrs": sorted(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
                "groups": sorted(r["GroupId"] for r in p.get("UserIdGroupPairs", [])),
            }
            for p in sorted(
                g.get("IpPermissions", []),
                key=lambda p: (p.get("IpProtocol", ""), p.get("FromPort", -1)),
            )
        ],
    }


def load_balancers(elb, ec2, acm):
    lbs = list(pages(elb, "describe_load_balancers", "LoadBalancers"))
    tags = tags_by_arn(elb, [lb["LoadBalancerArn"] for lb in lbs])
    certs = {}
    out = []
    for lb in sorted(lbs, key=lambda lb: lb["LoadBalancerName"]):
        arn = lb["LoadBalancerArn"]
        listeners = []
        for li in sorted(
            pages(elb, "describe_listeners", "Listeners", LoadBalancerArn=arn),
            key=lambda li: li["Port"],
        ):
            larn = li["ListenerArn"]
            # AWS lists the default certificate alone here; moto lists every
            # certificate attached, the default first. The first is the default.
            default_arns = {c["CertificateArn"] for c in li.get("Certificates", [])[:1]}
            attached = {
                c["CertificateArn"]: c.get("IsDefault", False)
                for c in pages(
                    elb, "describe_listener_certificates", "Certificates", ListenerArn=larn
                )
            }
            for a in default_arns:
                attached[a] = True
            rules = []
            for r in pages(elb, "describe_rules", "Rules", ListenerArn=larn):
                if r.get("IsDefault"):
                    continue
                hosts = []
                for c in r.get("Conditions", []):
                    if c.get("Field") == "host-header":
                        hosts += c.get("HostHeaderConfig", {}).get("Values") or c.get("Values", [])
                rules.append(
                    {
                        "arn": r["RuleArn"],
                        "priority": int(r["Priority"]),
                        "host_headers": sorted(set(hosts)),
                        "actions": [action(a) for a in r.get("Actions", [])],
                    }
                )
            listeners.append(
                {
                    "arn": larn,
                    "port": li["Port"],
                    "protocol": li["Protocol"],
                    "default_actions": [action(a) for a in li.get("DefaultActions", [])],
                    "certificates": [
                        dict(arn=c, is_default=d, **certificate(acm, c, certs))
                        for c, d in sorted(attached.items(), key=lambda kv: (not kv[1], kv[0]))
                    ],
                    "rules": sorted(rules, key=lambda r: r["priority"]),
                }
            )
        out.append(
            {
                "arn": arn,
                "name": lb["LoadBalancerName"],
                "scheme": lb["Scheme"],
                "type": lb.get("Type"),
                "dns_name": lb["DNSName"],
                "canonical_hosted_zone_id": lb.get("CanonicalHostedZoneId"),
                "vpc_id": lb.get("VpcId"),
                "tags": tags.get(arn, {}),
                "security_groups": [security_group(ec2, g) for g in lb.get("SecurityGroups", [])],
                "listeners": listeners,
            }
        )
    return out


def records(r53, zone_id):
    out = []
    kwargs = {"HostedZoneId": zone_id}
    # ListResourceRecordSets pages by name and type, not by token.
    while True:
        page = r53.list_resource_record_sets(**kwargs)
        for rr in page["ResourceRecordSets"]:
            rec = {"name": rr["Name"], "type": rr["Type"]}
            if "AliasTarget" in rr:
                a = rr["AliasTarget"]
                rec["alias_target"] = {
                    "dns_name": a["DNSName"],
                    "hosted_zone_id": a["HostedZoneId"],
                    "evaluate_target_health": a.get("EvaluateTargetHealth"),
                }
            else:
                rec["ttl"] = rr.get("TTL")
                rec["values"] = [v["Value"] for v in rr.get("ResourceRecords", [])]
            out.append(rec)
        if not page.get("IsTruncated"):
            return out
        kwargs["StartRecordName"] = page["NextRecordName"]
        kwargs["StartRecordType"] = page["NextRecordType"]
        if page.get("NextRecordIdentifier"):
            kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]


def hosted_zones(r53, rack):
    out = []
    for z in pages(r53, "list_hosted_zones", "HostedZones"):
        if rack and z["Name"] != f"{rack}.convox.":
            continue
        zone_id = z["Id"].split("/")[-1]
        got = r53.get_hosted_zone(Id=zone_id)
        tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
        out.append(
            {
                "id": zone_id,
                "name": z["Name"],
                "private": z.get("Config", {}).get("PrivateZone", False),
                "vpcs": [
                    {"vpc_id": v.get("VPCId"), "region": v.get("VPCRegion")}
                    for v in got.get("VPCs", [])
                ],
                "tags": {
                    t["Key"]: t["Value"]
                    for t in tags.get("ResourceTagSet", {}).get("Tags", [])
                },
                "records": records(r53, zone_id),
            }
        )
    return sorted(out, key=lambda z: (z["name"], z["id"]))


# What an embedding deployer attaches its containers to (issue 10).
def target_groups(elb):
    """Every target group: the ARN a deployer registers targets in, its port, its targets."""
    return sorted(
        (
            {
                "arn": t["TargetGroupArn"],
                "name": t["TargetGroupName"],
                "port": t.get("Port"),
                "protocol": t.get("Protocol"),
                "health_check_path": t.get("HealthCheckPath"),
                "targets": sorted(
                    (
                        {
                            "id": d["Target"]["Id"],
                            "port": d["Target"].get("Port"),
                            "state": d.get("TargetHealth", {}).get("State"),
                        }
                        for d in elb.describe_target_health(
                            TargetGroupArn=t["TargetGroupArn"]
                        ).get("TargetHealthDescriptions", [])
                    ),
                    key=lambda d: (d["id"], d["port"] or 0),
                ),
            }
            for t in pages(elb, "describe_target_groups", "TargetGroups")
        ),
        key=lambda t: t["name"],
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("endpoint", help="the AWS endpoint URL, such as http://127.0.0.1:5000")
    p.add_argument("account", help="moto's account id (x-moto-account-id); empty for none")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--rack", help="list only the hosted zone {rack}.convox.")
    args = p.parse_args()

    def c(service):
        return client(service, args.endpoint, args.region, args.account)

    elb, ec2, acm, r53 = c("elbv2"), c("ec2"), c("acm"), c("route53")
    report = {
        "account": args.account,
        "region": args.region,
        "load_balancers": load_balancers(elb, ec2, acm),
        "hosted_zones": hosted_zones(r53, args.rack),
        "target_groups": target_groups(elb),
        "certificates": sorted(
            (
                {"arn": s["CertificateArn"], "domain_name": s.get("DomainName")}
                for s in pages(acm, "list_certificates", "CertificateSummaryList")
            ),
            key=lambda s: (s["domain_name"] or "", s["arn"]),
        ),
    }
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
