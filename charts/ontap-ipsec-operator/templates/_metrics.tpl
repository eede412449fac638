{{- /*
Where the Deployment mounts metrics.certSecret for --metrics-cert-dir; empty when /metrics is not
served over HTTPS or uses a self-signed certificate.
*/}}
{{- define "ontap-ipsec-operator.metricsCertDir" -}}
{{- if and (eq .Values.metrics.auth "kubernetes") .Values.metrics.certSecret -}}
/etc/ontap-ipsec-operator/metrics-tls
{{- end -}}
{{- end }}
