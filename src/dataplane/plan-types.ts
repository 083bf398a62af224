// What a driver is told to do: the diff between the running and the desired config, computed
// once by control/plan.ts. Part of the driver contract (driver.ts), so the data plane never imports
// control/.
export interface EndpointDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Endpoints present in both whose weight changed. */
  readonly reweighted: readonly string[];
}

export interface ServiceChange {
  readonly name: string;
  /** Settings that differ, e.g. ["balance", "endpoints", "timeouts"]. */
  readonly fields: readonly string[];
  readonly endpoints: EndpointDiff;
}

export interface Plan {
  readonly listeners: { readonly add: readonly string[]; readonly keep: readonly string[]; readonly remove: readonly string[] };
  readonly services: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly ServiceChange[];
    readonly unchanged: readonly string[];
  };
  readonly adminChanged: boolean;
  /** True when applying it would change nothing at all. */
  readonly empty: boolean;
}
