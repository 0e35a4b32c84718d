/**
 * The cluster's environment variable names, alone in a module so the config module can list every variable
 * without loading `node:cluster`.
 */
export const CLUSTER_VARIABLES = ["WORKERS"] as const

export type ClusterVariable = (typeof CLUSTER_VARIABLES)[number]
