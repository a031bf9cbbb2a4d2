#!/usr/bin/env python3
"""A stand-in for a Kubernetes API server's discovery endpoints, so `kubectl apply
--dry-run=client` can map kinds to resources without a cluster (none can run here).

Usage: kube_discovery.py PORT '[["group", "version", "Kind"], ...]'
Serves /api, /apis, /api/v1 and /apis/<group>/<version> for the given kinds; every other GET
answers 404 (no object exists, so a client dry run reports "created").
"""
import json, sys, http.server
kinds = json.loads(sys.argv[2])  # [[group, version, kind], ...]
groups = {}
for g, v, k in kinds:
    groups.setdefault((g, v), set()).add(k)
def reslist(gv, ks):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": k.lower() + ("es" if k.endswith("s") else "s"), "singularName": k.lower(), "namespaced": k not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"), "kind": k, "verbs": ["get", "list", "create", "update", "patch", "delete"]} for k in sorted(ks)]}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body):
        b = json.dumps(body).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/api":
            return self.send(200, {"kind": "APIVersions", "versions": ["v1"]})
        if p == "/apis":
            gl = {}
            for (g, v) in groups:
                if g: gl.setdefault(g, []).append(v)
            return self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs], "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}} for g, vs in gl.items()]})
        if p == "/api/v1":
            return self.send(200, reslist("v1", groups.get(("", "v1"), set())))
        parts = p.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in groups:
            return self.send(200, reslist(f"{parts[1]}/{parts[2]}", groups[(parts[1], parts[2])]))
        return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
