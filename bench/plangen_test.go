package bench

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

// A synthetic plan in Terraform's JSON format, of about the size asked for: resource
// changes of five AWS types (buckets, public and private ACLs, instances of allowed
// and other sizes, security groups, databases, some deleted), a third of them in
// modules, with unknown and sensitive values, and the same resources in
// planned_values. The policies of regocheck/testdata/policy find something in it.

var (
	plansMu sync.Mutex
	plans   = map[int][]byte{}
)

// syntheticPlan returns a plan of at least size bytes, built once per size.
func syntheticPlan(b *testing.B, size int) []byte {
	b.Helper()
	plansMu.Lock()
	defer plansMu.Unlock()
	if p, ok := plans[size]; ok {
		return p
	}
	n := 16
	for {
		p, err := json.Marshal(buildPlan(n))
		if err != nil {
			b.Fatal(err)
		}
		if len(p) >= size {
			plans[size] = p
			return p
		}
		n = n * size / len(p) * 21 / 20 // grow past the target in a step or two
	}
}

func buildPlan(n int) map[string]any {
	var changes, root []any
	children := map[string][]any{}
	for i := range n {
		module := ""
		if i%3 == 0 {
			module = fmt.Sprintf("module.svc%d", i%7)
		}
		typ, name := "", fmt.Sprintf("r%d", i)
		actions := []any{"create"}
		var before, after map[string]any
		unknown := map[string]any{"id": true, "arn": true}
		sensitive := map[string]any{}
		tags := map[string]any{"owner": "team", "env": "prod", "cost-centre": fmt.Sprintf("cc-%d", i%40)}
		if i%11 == 0 {
			delete(tags, "owner")
		}
		switch i % 5 {
		case 0:
			typ = "aws_s3_bucket"
			after = map[string]any{"bucket": fmt.Sprintf("acme-%d", i), "force_destroy": false, "tags": tags, "tags_all": tags}
		case 1:
			typ = "aws_s3_bucket_acl"
			acl := "private"
			if i%13 == 1 {
				acl = "public-read"
			}
			after = map[string]any{"acl": acl, "bucket": fmt.Sprintf("acme-%d", i-1), "expected_bucket_owner": nil}
		case 2:
			typ = "aws_instance"
			size := "t3.micro"
			if i%17 == 2 {
				size = "m5.4xlarge"
			}
			after = map[string]any{"ami": "ami-0c55b159cbfafe1f0", "instance_type": size, "tags": tags,
				"user_data": "IyEvYmluL2Jhc2gKZWNobyBoZWxsbwo=", "root_block_device": []any{map[string]any{"volume_size": 50, "encrypted": true}}}
			unknown["private_ip"] = true
			unknown["root_block_device"] = []any{map[string]any{"volume_id": true}}
		case 3:
			typ = "aws_security_group"
			actions = []any{"update"}
			ingress := []any{map[string]any{"cidr_blocks": []any{"10.0.0.0/8"}, "from_port": 443, "to_port": 443, "protocol": "tcp", "description": "https"}}
			before = map[string]any{"name": name, "ingress": ingress, "tags": tags}
			if i%19 == 3 {
				ingress = append(ingress, map[string]any{"cidr_blocks": []any{"0.0.0.0/0"}, "from_port": 22, "to_port": 22, "protocol": "tcp", "description": "ssh"})
			}
			after = map[string]any{"name": name, "ingress": ingress, "tags": tags}
		case 4:
			typ = "aws_db_instance"
			after = map[string]any{"identifier": name, "engine": "postgres", "instance_class": "db.t3.medium", "password": "not-a-real-password", "tags": tags}
			sensitive["password"] = true
			if i%23 == 4 {
				actions, before, after = []any{"delete"}, after, nil
			}
		}
		addr := typ + "." + name
		if module != "" {
			addr = module + "." + addr
		}
		change := map[string]any{"actions": actions, "before": before, "after": after, "after_unknown": unknown,
			"before_sensitive": sensitive, "after_sensitive": sensitive}
		rc := map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_name": "registry.terraform.io/hashicorp/aws", "change": change}
		if module != "" {
			rc["module_address"] = module
		}
		changes = append(changes, rc)
		if after != nil {
			res := map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
				"provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0, "values": after, "sensitive_values": sensitive}
			if module == "" {
				root = append(root, res)
			} else {
				children[module] = append(children[module], res)
			}
		}
	}
	var childModules []any
	for i := range 7 {
		m := fmt.Sprintf("module.svc%d", i)
		if len(children[m]) > 0 {
			childModules = append(childModules, map[string]any{"address": m, "resources": children[m]})
		}
	}
	return map[string]any{
		"format_version": "1.2", "terraform_version": "1.9.8",
		"planned_values":   map[string]any{"root_module": map[string]any{"resources": root, "child_modules": childModules}},
		"resource_changes": changes,
		"applyable":        true, "complete": true, "errored": false,
	}
}
