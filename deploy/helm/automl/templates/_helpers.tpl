{{/* Names, labels, images and the checks every template shares. */}}

{{- define "automl.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "automl.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "gateway") */}}
{{- define "automl.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* <registry>/<image>@<digest> when image.digests names one (what runs cannot change under the same tag),
     else <registry>/<image>:<tag>. */}}
{{- define "automl.image" -}}
{{- $root := .root -}}
{{- $digest := get ($root.Values.image.digests | default dict) .image -}}
{{- if $digest -}}
{{- printf "%s/%s@%s" $root.Values.image.registry .image $digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $root.Values.image.registry .image (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "automl.serviceUrl" -}}
{{- printf "http://%s-%s:%v" (include "automl.fullname" .root) .component .port -}}
{{- end -}}

{{- define "automl.platformSecret" -}}
{{- default (include "automl.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "automl.databaseSecret" -}}
{{- default (printf "%s-database" (include "automl.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "automl.storeSecret" -}}
{{- default (printf "%s-store" (include "automl.fullname" .)) .Values.objectStore.existingSecret -}}
{{- end -}}

{{- define "automl.hasStoreKeys" -}}
{{- if or .Values.objectStore.existingSecret .Values.objectStore.accessKeyId -}}true{{- end -}}
{{- end -}}

{{/* Cluster mode needs Postgres and S3: refuse to render without them. */}}
{{- define "automl.checkCluster" -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) -}}
{{- fail "database: set database.url (postgresql+asyncpg://...) or database.existingSecret; cluster mode needs Postgres" -}}
{{- end -}}
{{- if and .Values.database.url (not (hasPrefix "postgresql" .Values.database.url)) -}}
{{- fail (printf "database.url: cluster mode needs Postgres (postgresql+asyncpg://...), not %s" (regexReplaceAll ":[^:@/]*@" .Values.database.url ":***@")) -}}
{{- end -}}
{{- if not .Values.objectStore.bucket -}}
{{- fail "objectStore.bucket: cluster mode needs an S3 bucket" -}}
{{- end -}}
{{- if and .Values.objectStore.accessKeyId (not .Values.objectStore.secretAccessKey) -}}
{{- fail "objectStore.secretAccessKey: give it with objectStore.accessKeyId (or use objectStore.existingSecret)" -}}
{{- end -}}
{{- if and .Values.inference.ray.address .Values.inference.ray.kuberay.enabled -}}
{{- fail "inference.ray: give either address (an existing Ray) or kuberay.enabled, not both" -}}
{{- end -}}
{{- if and .Values.inference.ray.replicaGpus .Values.inference.ray.kuberay.enabled (not .Values.inference.ray.kuberay.workers.gpus) -}}
{{- fail "inference.ray.replicaGpus: the KubeRay workers have no GPU to give (set inference.ray.kuberay.workers.gpus)" -}}
{{- end -}}
{{- end -}}

{{/* The secrets one service needs, as env entries: (dict "root" $ "store" true) */}}
{{- define "automl.secretEnv" -}}
{{- $root := .root -}}
- name: AUTOML_INTERNAL_TOKEN
  valueFrom: {secretKeyRef: {name: {{ include "automl.platformSecret" $root }}, key: AUTOML_INTERNAL_TOKEN}}
- name: AUTOML_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ include "automl.databaseSecret" $root }}, key: {{ $root.Values.database.existingSecretKey }}}}
{{- if .operator }}
- name: AUTOML_OPERATOR_KEY
  valueFrom: {secretKeyRef: {name: {{ include "automl.platformSecret" $root }}, key: AUTOML_OPERATOR_KEY}}
- name: AUTOML_CONSOLE_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "automl.platformSecret" $root }}, key: AUTOML_CONSOLE_SECRET}}
{{- end }}
{{- if and .store (include "automl.hasStoreKeys" $root) }}
- name: AUTOML_S3_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "automl.storeSecret" $root }}, key: AUTOML_S3_ACCESS_KEY_ID}}
- name: AUTOML_S3_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "automl.storeSecret" $root }}, key: AUTOML_S3_SECRET_ACCESS_KEY}}
{{- end }}
{{- end -}}

{{/*
One service: ServiceAccount, Deployment, Service, and optionally a PodDisruptionBudget and an HPA.
(dict "root" $ "component" "gateway" "values" .Values.gateway "image" "gateway" "module" "gateway"
      "store" true "operator" false "account" "" "env" (list ...))
*/}}
{{- define "automl.component" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $name := printf "%s-%s" (include "automl.fullname" $root) .component -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  labels:
    {{- include "automl.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
automountServiceAccountToken: {{ .apiAccess | default false }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "automl.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  {{- if .recreate }}
  strategy: {type: Recreate}
  {{- end }}
  selector:
    matchLabels:
      {{- include "automl.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "automl.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        app.kubernetes.io/part-of: automl-platform
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/config.yaml") $root | sha256sum }}
        {{- if $root.Values.monitoring.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $v.port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: {{ .apiAccess | default false }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "automl.image" (dict "root" $root "image" .image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["python", "-m", {{ .module | quote }}]
          ports:
            - name: http
              containerPort: {{ $v.port }}
          envFrom:
            - configMapRef:
                name: {{ include "automl.fullname" $root }}-config
          env:
            - name: {{ printf "AUTOML_%s_PORT" (.prefix | upper) }}
              value: {{ $v.port | quote }}
            {{- include "automl.secretEnv" (dict "root" $root "store" .store "operator" .operator) | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- range $key, $value := $v.env }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 6
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 5
            failureThreshold: 60
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
      volumes:
        - name: tmp
          emptyDir: {}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "automl.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "automl.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
  ports:
    - name: http
      port: {{ $v.service.port }}
      targetPort: http
{{- if $v.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "automl.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  minAvailable: {{ $v.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "automl.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
{{- end }}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "automl.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/* The egress rule to the object store: its egressTo peers, else any address but the link-local range (the
     cloud metadata service answers on 169.254.169.254, port 80, one of the store's ports). */}}
{{- define "automl.storeEgress" -}}
- ports:
    {{- range .Values.objectStore.egressPorts }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  to:
    {{- if .Values.objectStore.egressTo }}
    {{- toYaml .Values.objectStore.egressTo | nindent 4 }}
    {{- else }}
    - ipBlock: {cidr: 0.0.0.0/0, except: [169.254.0.0/16]}
    {{- end }}
{{- end -}}
