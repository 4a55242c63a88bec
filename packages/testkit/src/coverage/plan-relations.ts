/**
 * What a statement touches, read from its plan (EXPLAIN (VERBOSE, FORMAT JSON)), not from its text:
 * every ModifyTable node is a write of its kind on its table, every other node that names a relation
 * is a read. Data-modifying CTEs, sub-selects and init plans are nodes of the same tree. Foreign-key
 * checks are not in a plan (they are not statements), and neither are the statements a called
 * function runs.
 */

export type CoveredCommand = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** One relation a plan touches, as the plan names it (a partition is named as itself). */
export interface PlanTouch {
  readonly schema: string;
  readonly name: string;
  /** What the statement does to the relation; MERGE when a MERGE writes it (its actions are not in the plan). */
  readonly command: CoveredCommand | 'MERGE';
}

interface PlanNode {
  readonly 'Node Type'?: string;
  readonly Operation?: string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly Alias?: string;
  readonly 'Parent Relationship'?: string;
  readonly 'Subplan Name'?: string;
  readonly 'Conflict Resolution'?: string;
  readonly 'Target Tables'?: readonly PlanNode[];
  readonly Plans?: readonly PlanNode[];
}

const WRITES: Record<string, PlanTouch['command']> = { Insert: 'INSERT', Update: 'UPDATE', Delete: 'DELETE', Merge: 'MERGE' };

function targetKey(node: PlanNode): string {
  return `${node.Schema ?? ''}\0${node['Relation Name'] ?? ''}\0${node.Alias ?? ''}`;
}

/**
 * The relations of a plan with the command applied to each, without duplicates. A scan of the
 * row an UPDATE, DELETE or MERGE changes (same relation and alias as its target, or one of the
 * target's partitions) is part of that write, not a read of its own; a sub-select of the same table
 * is a read.
 */
export function planTouches(explainOutput: unknown): PlanTouch[] {
  const parsed: unknown = typeof explainOutput === 'string' ? JSON.parse(explainOutput) : explainOutput;
  const roots = Array.isArray(parsed) ? parsed : [parsed];
  const seen = new Map<string, PlanTouch>();
  const add = (touch: PlanTouch) => seen.set(`${touch.schema}\0${touch.name}\0${touch.command}`, touch);

  const walk = (node: PlanNode, targets: ReadonlySet<string>): void => {
    const relationship = node['Parent Relationship'];
    // A sub-plan (CTE, SubPlan, InitPlan) is a query of its own: the enclosing write's target is not its target.
    const own = node['Subplan Name'] !== undefined || relationship === 'InitPlan' || relationship === 'SubPlan' ? new Set<string>() : targets;
    let below = own;
    const relation = node['Relation Name'];
    const schema = node.Schema;
    if (node['Node Type'] === 'ModifyTable' && relation !== undefined && schema !== undefined) {
      const command = WRITES[node.Operation ?? ''];
      if (command) add({ schema, name: relation, command });
      if (command === 'INSERT' && node['Conflict Resolution'] === 'UPDATE') add({ schema, name: relation, command: 'UPDATE' });
      if (command !== 'INSERT') below = new Set([targetKey(node), ...(node['Target Tables'] ?? []).map(targetKey)]);
    } else if (relation !== undefined && schema !== undefined && !own.has(targetKey(node))) {
      add({ schema, name: relation, command: 'SELECT' });
    }
    for (const child of node.Plans ?? []) walk(child, below);
  };

  for (const root of roots) {
    const plan = (root as { Plan?: PlanNode } | undefined)?.Plan;
    if (plan) walk(plan, new Set());
  }
  return [...seen.values()];
}
