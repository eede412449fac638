{{/* Names, labels and the operator's RBAC rules shared by the templates. */}}

{{- define "ontap-ipsec-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-<chart>`, or the release name alone when it already contains the chart name. */}}
{{- define "ontap-ipsec-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ontap-ipsec-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ontap-ipsec-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ontap-ipsec-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ontap-ipsec-operator.labels" -}}
helm.sh/chart: {{ include "ontap-ipsec-operator.chart" . }}
{{ include "ontap-ipsec-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ontap-ipsec-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ontap-ipsec-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The user name the API server gives the operator: the only writer the read-only guard lets through. */}}
{{- define "ontap-ipsec-operator.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "ontap-ipsec-operator.serviceAccountName" .) }}
{{- end }}

{{- define "ontap-ipsec-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election runs only with several replicas; its Lease Role exists only then. */}}
{{- define "ontap-ipsec-operator.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
The Lease that kube-lease-manager takes (`--lease-name`): one per release, so releases sharing a
namespace never take each other's.
*/}}
{{- define "ontap-ipsec-operator.leaseName" -}}
{{- include "ontap-ipsec-operator.fullname" . }}
{{- end }}

{{/*
Exactly the API calls the operator makes (src/controller):
- watch and list OntapClusters; server-side apply of their status;
- watch and list the mirrored objects; server-side apply creates and updates them (an apply that
  creates needs `create`), apply of their status; delete of those gone from ONTAP;
- get of the credentials and CA Secrets it is pointed at (never list or watch: that would read
  every Secret of the namespace);
- create of Events, and patch when the same event repeats (kube-runtime's Recorder).
*/}}
{{- define "ontap-ipsec-operator.operatorRules" -}}
- apiGroups: ["ontap-ipsec.dev"]
  resources: ["ontapclusters"]
  verbs: ["list", "watch"]
- apiGroups: ["ontap-ipsec.dev"]
  resources: ["ontapclusters/status"]
  verbs: ["patch"]
- apiGroups: ["ontap-ipsec.dev"]
  resources: ["ipsecsecurityassociations"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["ontap-ipsec.dev"]
  resources: ["ipsecsecurityassociations/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The read-only guard's denial message; tests match it. */}}
{{- define "ontap-ipsec-operator.readOnlyMessage" -}}
IpsecSecurityAssociation objects are read-only mirrors of ONTAP security associations: only the operator ({{ include "ontap-ipsec-operator.serviceAccountUser" . }}) may create or change them. Change the security association in ONTAP; the operator mirrors it on its next poll. Anyone else may only delete a mirror or remove its finalizers, and only the garbage collector may remove its owner references.
{{- end }}

{{/* The read-only guard's denial message for OntapCluster status; tests match it. */}}
{{- define "ontap-ipsec-operator.clusterStatusMessage" -}}
The status of an OntapCluster is what the operator last saw in ONTAP: only the operator ({{ include "ontap-ipsec-operator.serviceAccountUser" . }}) may write it. Set the annotation ontap-ipsec.dev/refresh to ask for a new poll.
{{- end }}

{{/*
The Secret access check's denial message, static and with the names filled in; tests match the
part they share. Called with (dict "field" <the spec field> "secret" <the CEL expression of its name>).
*/}}
{{- define "ontap-ipsec-operator.secretAccessMessage" -}}
the requester may not get a Secret that {{ .field }} names, so the operator would read it on their behalf and send it to spec.endpoint. Name a Secret you may get, or ask for get on that Secret.
{{- end }}

{{- define "ontap-ipsec-operator.secretAccessMessageExpression" -}}
'the requester (' + request.userInfo.username + ') may not get Secret ' + request.namespace + '/' + {{ .secret }} + ', which {{ .field }} names, so the operator would read it on their behalf and send it to spec.endpoint. Name a Secret you may get, or ask for get on that Secret.'
{{- end }}

{{/*
The user names of the garbage collector: its own ServiceAccount when kube-controller-manager runs
with --use-service-account-credentials (most clusters), the controller manager's otherwise.
*/}}
{{- define "ontap-ipsec-operator.garbageCollectorUsers" -}}
['system:serviceaccount:kube-system:generic-garbage-collector', 'system:kube-controller-manager']
{{- end }}

{{/*
The namespaceSelector of an admission policy binding: the value's own selector, else watchNamespace
(another release may serve other namespaces with its own ServiceAccount), else every namespace.
Called with (dict "root" $ "selector" <the value's namespaceSelector>).
*/}}
{{- define "ontap-ipsec-operator.policyNamespaceSelector" -}}
{{- if .selector }}
namespaceSelector:
  {{- toYaml .selector | nindent 2 }}
{{- else if .root.Values.watchNamespace }}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ .root.Values.watchNamespace }}
{{- else }}
namespaceSelector: {}
{{- end }}
{{- end }}
