"""Offline strict validation of rendered manifests (run by scripts/validate-chart.sh).

- Built-in kinds: kubernetes-validate (PyPI) in strict mode, against the Kubernetes JSON schemas
  it ships for each --kube-version (unknown fields are errors, as with kubeconform -strict).
- CRD kinds (KEDA, Prometheus Operator): the JSON schemas in --crd-dir, validated with the same
  jsonschema library, resolving ObjectMeta & co. against the same Kubernetes definitions.
- Upstream CRD definitions (--crd-yaml, e.g. Prometheus Operator's from the Go module proxy):
  their openAPIV3Schema made strict the way kubeconform's openapi2jsonschema does it
  (additionalProperties: false wherever properties are listed); they take precedence over
  --crd-dir for the kinds they define.
- Duplicate keys in a YAML mapping are errors (a later key silently wins otherwise).
- A kind with no schema is an error, never skipped.

Usage: python validate_manifests.py --kube-version 1.30.0 --crd-dir DIR [--crd-yaml CRD.yaml]...
       [--json-out FILE] FILE...
Prints one line per document ("ok Kind/name" or "invalid Kind/name: ..."); exit 1 on any error.
"""
import argparse
import json
import os
import sys

import importlib_resources
import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource


class StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


# Built-in API groups whose name has a dot (CRD groups such as gateway.networking.k8s.io do too).
BUILTIN_DOTTED_GROUPS = {
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
}


def crd_schema_file(doc):
    group_version = doc.get("apiVersion", "")
    if "/" not in group_version:
        return None
    group, version = group_version.split("/", 1)
    if "." not in group or group in BUILTIN_DOTTED_GROUPS:
        return None  # built-in API group (apps, policy, networking.k8s.io...)
    return f"{doc['kind'].lower()}-{group.split('.')[0]}-{version}.json"


OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def strict_schema(node):
    """An openAPIV3Schema node as strict JSON Schema (Kubernetes extensions resolved)."""
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-int-or-string"):
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    out = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {k: strict_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(v) for v in value]
        else:
            out[key] = value
    if "properties" in node and "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_schemas(path):
    """(apiVersion, kind) -> strict JSON Schema, for every served version of a CRD file."""
    out = {}
    with open(path) as f:
        for crd in yaml.safe_load_all(f):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            kind = spec["names"]["kind"]
            for v in spec["versions"]:
                api_version = f"{spec['group']}/{v['name']}"
                schema = strict_schema(v["schema"]["openAPIV3Schema"])
                schema["properties"]["apiVersion"] = {"const": api_version}
                schema["properties"]["kind"] = {"const": kind}
                schema["properties"]["metadata"] = {"$ref": OBJECT_META}
                schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
                schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
                schema["$id"] = f"https://thermostat.local/crd-yaml/{kind.lower()}-{v['name']}.json"
                out[(api_version, kind)] = schema
    return out


def k8s_definitions(kube_version):
    version = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(kube_version)][-1]
    ref = importlib_resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json")
    return json.loads(ref.read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kube-version", required=True)
    ap.add_argument("--crd-dir", required=True)
    ap.add_argument("--crd-yaml", action="append", default=[])
    ap.add_argument("--json-out")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    defs = Resource.from_contents(k8s_definitions(args.kube_version))
    upstream = {}
    for path in args.crd_yaml:
        upstream.update(crd_schemas(path))
    docs, errors = [], 0
    for path in args.files:
        with open(path) as f:
            try:
                docs.extend(d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None)
            except yaml.YAMLError as e:
                print(f"invalid {path}: YAML: {e}")
                errors += 1
    if not docs and not errors:
        print("invalid: no documents rendered")
        errors += 1

    for doc in docs:
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            crd_file = crd_schema_file(doc)
            schema = upstream.get((doc.get("apiVersion"), doc.get("kind")))
            if crd_file and schema is None:
                schema_path = os.path.join(args.crd_dir, crd_file)
                if not os.path.exists(schema_path):
                    raise LookupError(f"no CRD schema {crd_file} in {args.crd_dir}")
                with open(schema_path) as f:
                    schema = json.load(f)
            if crd_file:
                registry = Resource.from_contents(schema) @ (defs @ Registry())
                validator = jsonschema.Draft202012Validator(schema, registry=registry)
                problems = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
                if problems:
                    raise ValueError("; ".join(
                        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in problems[:5]))
            else:
                kubernetes_validate.validate(doc, args.kube_version, strict=True)
            print(f"ok {name}")
        except kv.ValidationError as e:
            print(f"invalid {name}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
            errors += 1
        except kv.SchemaNotFoundError as e:
            print(f"invalid {name}: {e.message}")
            errors += 1
        except (LookupError, ValueError) as e:
            print(f"invalid {name}: {e}")
            errors += 1

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(docs, f)
    print(f"{len(docs)} documents, {errors} invalid (Kubernetes {args.kube_version}, strict)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
