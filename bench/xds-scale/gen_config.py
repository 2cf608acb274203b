#!/usr/bin/env python3
"""Writes the benchmark's config directory: M Kubernetes Services (each with two Pods whose
status.podIP is a distinct 10.x.y.z; data only, no traffic is sent) and one VirtualService per
ten services, splitting traffic 90/10 between a service and its neighbour. VirtualService k
lives alone in vs-k.yaml so the benchmark's edit touches one small file.

usage: gen_config.py DIR M
"""
import os
import sys


def ip(prefix, n):
    return f"{prefix}.{n // 250}.{n % 250 + 1}"


def service(i):
    name = f"svc-{i}"
    docs = [f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  clusterIP: {ip("10.96", i)}
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"""]
    for j in range(2):
        pod = 2 * i + j
        docs.append(f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}-{j}, namespace: default, labels: {{app: {name}, version: v{j + 1}}}}}
spec: {{containers: [{{name: app, image: app, ports: [{{containerPort: 8080}}]}}]}}
status: {{podIP: {ip("10.1", pod)}}}
""")
    return "---\n".join(docs)


def virtual_service(k, m):
    a, b = 10 * k, min(10 * k + 1, m - 1)
    host = lambda i: f"svc-{i}.default.svc.cluster.local"
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: vs-{k}, namespace: default}}
spec:
  hosts: [{host(a)}]
  http:
  - route:
    - destination: {{host: {host(a)}}}
      weight: 90
    - destination: {{host: {host(b)}}}
      weight: 10
"""


def main():
    out, m = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "services.yaml"), "w") as f:
        f.write("---\n".join(service(i) for i in range(m)))
    for k in range((m + 9) // 10):
        with open(os.path.join(out, f"vs-{k}.yaml"), "w") as f:
            f.write(virtual_service(k, m))


main()
