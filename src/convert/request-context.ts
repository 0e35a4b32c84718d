/** What the request converters (request.ts, messages.ts, tools.ts) share while they walk one request. */
import { InvalidRequest } from "../errors.ts"
import type { ModelCapabilities, Provider } from "./models.ts"
import type { Profile } from "./profiles.ts"

export interface Target {
  readonly model: string
  readonly provider: Provider
}

export interface Context {
  readonly target: Target
  readonly caps: ModelCapabilities
  /** The target provider's row of the profile table: its request dialect. */
  readonly profile: Profile
  /** Client tool name → upstream tool name. */
  readonly toolNames: ReadonlyMap<string, string>
  readonly notes: Set<string>
}

/** Conversion failures are thrown deep inside the walk and turned into a Result at the single entry point. */
export const reject = (message: string): never => {
  throw new InvalidRequest({ message })
}
