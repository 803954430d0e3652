{{/* Chart name, cut to the 63 characters a DNS label allows. */}}
{{- define "proglog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name. Pod names add "-N" and per-pod Services "-N" too, so the
prefix stays short enough for a DNS label.
*/}}
{{- define "proglog.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "proglog.headlessName" -}}
{{ include "proglog.fullname" . }}-headless
{{- end }}

{{/* Domain under which pod N is "<fullname>-N.<this>". */}}
{{- define "proglog.headlessDomain" -}}
{{ include "proglog.headlessName" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{- define "proglog.tlsSecretName" -}}
{{ default (printf "%s-tls" (include "proglog.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "proglog.peerTlsSecretName" -}}
{{ default (include "proglog.tlsSecretName" .) .Values.tls.peerSecretName }}
{{- end }}

{{- define "proglog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proglog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "proglog.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "proglog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: log
{{- end }}

{{/*
The pod's start script. Gossip joins take IPv4 addresses, so it resolves the other pods'
headless names (published before the pods are ready) and passes those that resolve. A pod
with no Raft state joins the cluster, except pod 0 when no other pod exists yet: that is the
first start, and pod 0 bootstraps. So pod 0 whose volume was lost while the others run
joins them instead of bootstrapping a second cluster. A pod with Raft state restarts as
itself and joins whichever peers resolve (none when the whole set restarts: the others join
it as they come up).
*/}}
{{- define "proglog.startScript" -}}
set -eu
ordinal="${POD_NAME##*-}"
resolve_peers() {
  peers=""
  for i in $(seq 0 {{ sub (int .Values.replicas) 1 }}); do
    [ "$i" = "$ordinal" ] && continue
    ip=$(getent ahostsv4 "{{ include "proglog.fullname" . }}-$i.{{ include "proglog.headlessDomain" . }}" | { read -r addr _ && echo "$addr"; }) || true
    if [ -n "$ip" ]; then peers="${peers:+$peers,}$ip:{{ .Values.gossipPort }}"; fi
  done
}
resolve_peers
bootstrap=""
if [ ! -e "$PROGLOG_DATA_DIR/raft" ]; then
  if [ "$ordinal" = 0 ] && [ -z "$peers" ]; then
    bootstrap=yes
  fi
  while [ -z "$bootstrap" ] && [ -z "$peers" ]; do
    echo "proglog-start: no peer resolves yet; retrying" >&2
    sleep 2
    resolve_peers
  done
fi
exec proglog serve ${bootstrap:+--bootstrap} ${peers:+--start-join-addrs "$peers"} "$@"
{{- end }}
