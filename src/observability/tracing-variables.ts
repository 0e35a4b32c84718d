/**
 * Tracing's environment variable names,
 * alone in a module so the config module can list every variable without loading the feature.
 */
export const TRACING_VARIABLES = [
  /** Base URL of an OTLP/HTTP receiver; traces go to `<base>/v1/traces`. Unset: no tracing at all. */
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  /** The traces URL itself, used as given (wins over the base URL). */
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  /** `service.name` of the exported spans; default "ccproxy". */
  "OTEL_SERVICE_NAME",
  /** `key=value,key=value` (values URL-encoded) sent with every export, e.g. a vendor's API key. */
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
  /** `http/protobuf` (the default, as the spec says) or `http/json`. */
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
  /** Milliseconds between two exports of the batched spans; default 5000. */
  "OTEL_BSP_SCHEDULE_DELAY",
  /** `true` turns tracing off even with an endpoint set. */
  "OTEL_SDK_DISABLED",
  /** `none` turns tracing off; `otlp` (or unset) keeps it. */
  "OTEL_TRACES_EXPORTER"
] as const

export type TracingVariable = (typeof TRACING_VARIABLES)[number]
