/** JSON schemas of engine API bodies that are not the agent's. */

/** RestartPolicy (@vxnet/common/api restart-policy.ts); the engine checks the rest (restartPolicyProblem). */
export const restartPolicyBodySchema = {
  type: 'object', additionalProperties: false, required: ['name'],
  properties: { name: { type: 'string', enum: ['no', 'on-failure', 'always', 'unless-stopped'] }, maximumRetryCount: { type: 'integer', minimum: 0, maximum: 999_999, default: 0 } },
} as const;
