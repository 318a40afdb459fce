// Evaluates a batch of AWS requests against IAM policies with @cloud-copilot/iam-simulate, offline.
//
// stdin: one JSON document
//   {"policies": {"<id>": <policy document>, ...},
//    "requests": [{"id": "...", "principal": "<ARN or service principal>", "action": "s3:GetObject",
//                  "resource": "<ARN or *>", "account": "<resource account>", "context": {"key": "value"},
//                  "identity": ["<policy id>", ...], "resourcePolicy": "<policy id>" | null,
//                  "endpoints": ["<policy id>", ...]}, ...]}
// stdout: one JSON document
//   {"decisions": [{"id": "...", "result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "Error",
//                   "error": "...", "denials": [...], "grants": [...], "ignoredContextKeys": [...]}, ...]}
// Denials and grants are the simulator's (getDenialReasons/getGrantReasons): policy type, policy id and the
// 1-based statement index. One process evaluates the whole batch.
import { getDenialReasons, getGrantReasons, runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const batch = JSON.parse(Buffer.concat(chunks).toString('utf8'))

// The simulator (0.1.173) drops request context keys whose variable part follows a colon
// (kms:EncryptionContext:<key>) before evaluating, so a key policy condition on the encryption context could
// never match. Both sides are renamed to a variable key it keeps (aws:RequestTag/<...>): same values, same
// operators, nothing else in the policies uses that prefix.
const ENCRYPTION_CONTEXT = 'kms:encryptioncontext:'
function aliasKey(key) {
  return key.toLowerCase().startsWith(ENCRYPTION_CONTEXT)
    ? `aws:RequestTag/kms-encryption-context:${key.slice(ENCRYPTION_CONTEXT.length)}`
    : key
}
function aliasConditions(condition) {
  return Object.fromEntries(
    Object.entries(condition).map(([operator, keys]) => [
      operator,
      Object.fromEntries(Object.entries(keys).map(([key, value]) => [aliasKey(key), value]))
    ])
  )
}
function aliasPolicy(document) {
  const statements = [document.Statement ?? []].flat()
  if (!JSON.stringify(statements).toLowerCase().includes(ENCRYPTION_CONTEXT)) return document
  return {
    ...document,
    Statement: statements.map((s) => (s.Condition ? { ...s, Condition: aliasConditions(s.Condition) } : s))
  }
}
function aliasContext(context) {
  return Object.fromEntries(Object.entries(context ?? {}).map(([key, value]) => [aliasKey(key), value]))
}

const policies = Object.fromEntries(Object.entries(batch.policies ?? {}).map(([id, p]) => [id, aliasPolicy(p)]))

function policy(id) {
  if (!(id in policies)) throw new Error(`unknown policy id ${id}`)
  return policies[id]
}

function simulation(request) {
  const sim = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: aliasContext(request.context)
    },
    identityPolicies: (request.identity ?? []).map((id) => ({ name: id, policy: policy(id) })),
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  if (request.resourcePolicy) sim.resourcePolicy = policy(request.resourcePolicy)
  if (request.endpoints?.length) {
    sim.vpcEndpointPolicies = request.endpoints.map((id) => ({ name: id, policy: policy(id) }))
  }
  return sim
}

function analyses(response) {
  if (response.resultType === 'single') return [response.result]
  return response.results
}

async function decide(request) {
  let response
  try {
    response = await runSimulation(simulation(request), { simulationMode: 'Strict' })
  } catch (error) {
    return { id: request.id, result: 'Error', error: String(error?.message ?? error) }
  }
  if (response.resultType === 'error') {
    return { id: request.id, result: 'Error', error: JSON.stringify(response.errors) }
  }
  const results = analyses(response)
  return {
    id: request.id,
    result: response.overallResult,
    denials: results.flatMap((r) => getDenialReasons(r.analysis)),
    grants: results.flatMap((r) => getGrantReasons(r.analysis)),
    ignoredContextKeys: [...new Set(results.flatMap((r) => r.ignoredContextKeys ?? []))]
  }
}

const decisions = []
for (const request of batch.requests ?? []) decisions.push(await decide(request))
process.stdout.write(JSON.stringify({ decisions }))
