{{/* Names, labels and the pieces every service's objects share. */}}

{{- define "zorgstroom.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one service's objects. Called with (dict "root" $ "service" $service). */}}
{{- define "zorgstroom.serviceName" -}}
{{- printf "%s-%s" (include "zorgstroom.fullname" .root) .service.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "zorgstroom.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service.name }}
{{- end -}}

{{- define "zorgstroom.labels" -}}
{{ include "zorgstroom.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "zorgstroom.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- .service.image | default (printf "%s-%s:%s" .root.Values.image.repository .service.name $tag) -}}
{{- end -}}

{{/* The Secrets of one service: its database login, its migrator, its Kafka user (Strimzi: the user's name). */}}
{{- define "zorgstroom.secret" -}}
{{- $secrets := .service.secrets | default dict -}}
{{- if eq .which "database" -}}{{ $secrets.database | default (printf "%s-db-app" .service.name) }}
{{- else if eq .which "migrator" -}}{{ $secrets.migrator | default (printf "%s-db-migrator" .service.name) }}
{{- else -}}{{ $secrets.kafka | default (include "zorgstroom.kafkaUser" .) }}
{{- end -}}
{{- end -}}

{{/* A service's SCRAM user: its name, or `<prefix>-<name>` with a topic prefix (flevoland. gives
     flevoland-intake), as deploy/helm/generate_examples.py --prefix names the KafkaUsers. */}}
{{- define "zorgstroom.kafkaUser" -}}
{{- $prefix := regexReplaceAll "[^a-z0-9]+" (lower .root.Values.topicPrefix) "-" | trimAll "-" -}}
{{- .service.kafkaUser | default (ternary (printf "%s-%s" $prefix .service.name) .service.name (ne $prefix "")) -}}
{{- end -}}

{{/* postgresql://<role>@host:port/db?sslmode=...: the password comes from PGPASSWORD (asyncpg and libpq read it),
     so it needs no escaping in a URL and never shows in one. */}}
{{- define "zorgstroom.databaseUrl" -}}
{{- $db := .root.Values.database -}}
{{- $query := printf "sslmode=%s" $db.sslMode -}}
{{- if $db.caSecret -}}{{- $query = printf "%s&sslrootcert=/etc/zorgstroom/postgres-ca/%s" $query $db.caKey -}}{{- end -}}
{{- printf "postgresql://%s@%s:%v/%s?%s" .role $db.host $db.port $db.name $query -}}
{{- end -}}

{{/* The Kafka, region and telemetry variables every service and the migrations share. */}}
{{- define "zorgstroom.commonEnv" -}}
{{- $v := .root.Values -}}
- name: ZS_ENVIRONMENT
  value: {{ $v.environment | quote }}
- name: ZS_SERVICE_NAME
  value: {{ .service.name | quote }}
- name: ZS_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: ZS_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}
- name: ZS_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.saslMechanism | quote }}
- name: ZS_KAFKA_USERNAME
  value: {{ include "zorgstroom.kafkaUser" . | quote }}
- name: ZS_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "zorgstroom.secret" (dict "root" .root "service" .service "which" "kafka") }}
      key: password
{{- end }}
{{- if $v.kafka.caSecret }}
- name: ZS_KAFKA_CA_FILE
  value: /etc/zorgstroom/kafka-ca/{{ $v.kafka.caKey }}
{{- end }}
- name: ZS_KAFKA_REPLICATION_FACTOR
  value: {{ $v.kafka.replicationFactor | quote }}
- name: ZS_KAFKA_MIN_INSYNC_REPLICAS
  value: {{ $v.kafka.minInsyncReplicas | quote }}
- name: ZS_TOPIC_PREFIX
  value: {{ $v.topicPrefix | quote }}
- name: ZS_REGION_FILE
  value: {{ ternary "/etc/zorgstroom/region/region.toml" $v.region.regionFile (not (empty $v.region.regionConfigMap)) | quote }}
- name: ZS_MUNICIPALITIES_FILE
  value: {{ $v.region.municipalitiesFile | quote }}
{{- end -}}

{{/* The volumes of the CA files, the region file and the auth files, where set (secrets 0440: 288), and /tmp
     on a read-only root. */}}
{{- define "zorgstroom.volumes" -}}
{{- $v := .Values -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if $v.kafka.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ $v.kafka.caSecret }}, defaultMode: 288, items: [{key: {{ $v.kafka.caKey }}, path: {{ $v.kafka.caKey }}}]}
{{- end }}
{{- if $v.database.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ $v.database.caSecret }}, defaultMode: 288, items: [{key: {{ $v.database.caKey }}, path: {{ $v.database.caKey }}}]}
{{- end }}
{{- if $v.region.regionConfigMap }}
- name: region
  configMap: {name: {{ $v.region.regionConfigMap }}, items: [{key: region.toml, path: region.toml}]}
{{- end }}
{{- if $v.auth.issuersSecret }}
- name: auth-issuers
  secret: {secretName: {{ $v.auth.issuersSecret }}, defaultMode: 288, items: [{key: {{ $v.auth.issuersKey }}, path: issuers.toml}]}
{{- end }}
{{- if $v.auth.credentialsSecret }}
- name: auth-credentials
  secret: {secretName: {{ $v.auth.credentialsSecret }}, defaultMode: 288, items: [{key: {{ $v.auth.credentialsKey }}, path: credentials.json}]}
{{- end }}
{{- end -}}

{{- define "zorgstroom.volumeMounts" -}}
{{- $v := .Values -}}
- {name: tmp, mountPath: /tmp}
{{- if $v.kafka.caSecret }}
- {name: kafka-ca, mountPath: /etc/zorgstroom/kafka-ca, readOnly: true}
{{- end }}
{{- if $v.database.caSecret }}
- {name: postgres-ca, mountPath: /etc/zorgstroom/postgres-ca, readOnly: true}
{{- end }}
{{- if $v.region.regionConfigMap }}
- {name: region, mountPath: /etc/zorgstroom/region, readOnly: true}
{{- end }}
{{- if $v.auth.issuersSecret }}
- {name: auth-issuers, mountPath: /etc/zorgstroom/auth-issuers, readOnly: true}
{{- end }}
{{- if $v.auth.credentialsSecret }}
- {name: auth-credentials, mountPath: /etc/zorgstroom/auth-credentials, readOnly: true}
{{- end }}
{{- end -}}
