# One target per habit. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
K8S_DIR := target/k8s
# Integration tests mostly wait on the API server and poll intervals, so run many at once.
TEST_THREADS ?= 8

.PHONY: help build test lint fmt crds cluster-up cluster-down demo demo-down bench bench-fleet bench-allocators bench-ontap k8s-binaries soak

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

build: ## build the operator and the simulator
	$(CARGO) build --bins

lint: ## rustfmt check and clippy (pedantic) with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

k8s-binaries: ## build (or reuse cached) kube-apiserver, kube-controller-manager, etcd, kubectl, helm
	bash tests/k8s/build.sh

.PHONY: promtool
promtool: ## build (or reuse cached) promtool from the Prometheus Go module, for the alert and dashboard tests
	bash tests/prometheus/build.sh

test: ## all tests: starts the local control plane if it is not up, then cargo tests, interop, the demo and the control-plane start-up
	@bash tests/k8s/cluster-up.sh >/dev/null
	@bash tests/prometheus/build.sh >/dev/null
	@status=0; \
	KUBECONFIG="$(CURDIR)/$(K8S_DIR)/admin.kubeconfig" $(CARGO) test --lib --bins --tests --no-fail-fast -- --test-threads=$(TEST_THREADS) || status=1; \
	bash tests/interop/run.sh || status=1; \
	bash tests/demo/run.sh || status=1; \
	bash tests/k8s/start-test.sh || status=1; \
	bash tests/image/run.sh || status=1; \
	exit $$status

.PHONY: image
image: ## OCI archive target/image/ontap-ipsec-operator.oci.tar (buildah, no engine, nothing pulled) and its SBOM
	@bash scripts/image.sh

cluster-up: ## start the local control plane (idempotent); prints the admin kubeconfig path
	@bash tests/k8s/cluster-up.sh

cluster-down: ## stop the local control plane started by cluster-up and remove its state
	@bash tests/k8s/cluster-down.sh

crds: ## regenerate crds/crds.yaml from the Rust types
	$(CARGO) run --quiet -- crds > crds/crds.yaml.tmp && mv crds/crds.yaml.tmp crds/crds.yaml

.PHONY: chart-crds
chart-crds: ## copy crds/crds.yaml into the Helm chart (a test fails when the copies differ)
	cp crds/crds.yaml charts/ontap-ipsec-operator/files/crds.yaml

demo: ## from a fresh clone: control plane, simulator, chart RBAC and policy, operator as its ServiceAccount
	@bash scripts/demo.sh

demo-down: ## stop what `make demo` started and delete its namespace (DEMO_CLUSTER_DOWN=1 also stops the control plane)
	@bash scripts/demo-down.sh

bench-ontap: ## ONTAP client on 10,000 simulated SAs against the serde_json::Value floor; writes docs/benchmarks.md
	$(CARGO) bench --bench ontap

bench: ## operator on the control plane (1k, 10k, 50×200 SAs) against the naive design; writes docs/benchmarks.md
	@bash tests/k8s/cluster-up.sh >/dev/null
	KUBECONFIG="$(CURDIR)/$(K8S_DIR)/admin.kubeconfig" $(CARGO) bench --bench operator

bench-fleet: ## operator on 100 clusters × 1,000 SAs against the bare client (long, about an hour); writes docs/benchmarks.md
	@bash tests/k8s/cluster-up.sh >/dev/null
	KUBECONFIG="$(CURDIR)/$(K8S_DIR)/admin.kubeconfig" $(CARGO) bench --bench operator -- --fleet

# The glibc build is copied out before `cargo bench` relinks the default binary in its place.
SYSTEM_ALLOCATOR_BIN := $(abspath $(or $(CARGO_TARGET_DIR),target))/system-allocator/ontap-ipsec-operator

bench-allocators: ## operator steady state (1k, 10k SAs): mimalloc as shipped and with its own defaults, glibc malloc as built and tuned; writes docs/benchmarks.md
	@bash tests/k8s/cluster-up.sh >/dev/null
	$(CARGO) build --release --features system-allocator --bin ontap-ipsec-operator
	mkdir -p $(dir $(SYSTEM_ALLOCATOR_BIN))
	cp $(abspath $(or $(CARGO_TARGET_DIR),target))/release/ontap-ipsec-operator $(SYSTEM_ALLOCATOR_BIN)
	KUBECONFIG="$(CURDIR)/$(K8S_DIR)/admin.kubeconfig" $(CARGO) bench --bench operator -- --allocator-matrix --system-allocator-binary $(SYSTEM_ALLOCATOR_BIN)

soak: ## fault soak: the operator for SOAK_MINUTES (default 15) under random faults, checking invariants; writes docs/reliability.md
	@bash tests/k8s/cluster-up.sh >/dev/null
	KUBECONFIG="$(CURDIR)/$(K8S_DIR)/admin.kubeconfig" $(CARGO) test --test soak -- --ignored --nocapture
