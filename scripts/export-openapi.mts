// Writes openapi/openapi.json from the running app's route schemas. A test fails when the checked-in
// copy differs, so the document in the repository is always the one the code serves.
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { openApiDocument } from '../src/openapi.ts'
import { PACKAGE_ROOT } from '../src/paths.ts'

const doc = await openApiDocument()
mkdirSync(join(PACKAGE_ROOT, 'openapi'), { recursive: true })
writeFileSync(join(PACKAGE_ROOT, 'openapi', 'openapi.json'), JSON.stringify(doc, null, 2) + '\n')
console.log('wrote openapi/openapi.json')
