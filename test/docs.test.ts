// The documents cite tests as proof of their claims (docs/SECURITY.md and docs/CLINICAL-SAFETY.md
// above all). A cited test that was renamed or deleted leaves a claim without proof, so every
// citation in README.md and docs/*.md is checked against the test sources here.
//
// The citation format: a test file path in backticks (`test/routes/oauth2.test.ts`), then one or more
// exact titles of tests in that file in curly double quotes (“refuses alg none”). A title may be
// prefixed by the title of its describe block and ›: “describe title › test title”. A title belongs to
// the nearest test path before it in the same block (paragraph, list item or table row). Curly double
// quotes are kept for test titles: one that follows no test path is an error too.
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
const CITING_DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter(f => f.endsWith('.md'))
    .map(f => `docs/${f}`)
]
const TEST_PATH = /`(test\/[\w./-]+\.test\.ts)`/g

interface Citation {
  doc: string
  line: number
  file: string | null
  title: string
}

const squash = (text: string): string => text.replace(/\s+/g, ' ').trim()

/** Splits markdown into blocks: paragraphs, list items, table rows and headings, with their first line. */
function blocks (markdown: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = []
  let current: { line: number; lines: string[] } | null = null
  const flush = (): void => {
    if (current !== null) out.push({ line: current.line, text: current.lines.join('\n') })
    current = null
  }
  markdown.split('\n').forEach((line, i) => {
    if (line.trim() === '') return flush()
    const startsBlock = /^\s*([-*]|\d+\.)\s|^\s*\||^#/.test(line)
    if (startsBlock) flush()
    if (current === null) current = { line: i + 1, lines: [] }
    current.lines.push(line)
    if (/^\s*\||^#/.test(line)) flush()
  })
  flush()
  return out
}

/** Every “…” in a document, with the test file it belongs to (null when none precedes it in its block). */
function citationsIn (doc: string, markdown: string): Citation[] {
  const found: Citation[] = []
  for (const block of blocks(markdown)) {
    const marks: Array<{ at: number; file: string }> = [...block.text.matchAll(TEST_PATH)].map(m => ({
      at: m.index,
      file: m[1]
    }))
    for (const q of block.text.matchAll(/“([^”]*)”/g)) {
      const file = marks.filter(m => m.at < q.index).at(-1)?.file ?? null
      const line = block.line + block.text.slice(0, q.index).split('\n').length - 1
      found.push({ doc, line, file, title: squash(q[1]) })
    }
  }
  return found
}

const TEST_CALLS = new Set(['it', 'test', 'describe'])

/** The identifier a call chain starts from: `it` in it('…'), it.skip('…'), it.each([...])('…'). */
function rootName (expr: ts.Expression): string | undefined {
  if (ts.isIdentifier(expr)) return expr.text
  if (ts.isPropertyAccessExpression(expr)) return rootName(expr.expression)
  if (ts.isCallExpression(expr)) return rootName(expr.expression)
  return undefined
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A title as a pattern: literal text exact, interpolations and it.each placeholders match anything. */
function titlePattern (node: ts.Expression): string | undefined {
  const literal = (text: string): string =>
    escape(text.replace(/\s+/g, ' '))
      .split(/%[sdifjo#]/)
      .join('.+')
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return literal(node.text)
  if (ts.isTemplateExpression(node)) {
    return literal(node.head.text) + node.templateSpans.map(s => '.+' + literal(s.literal.text)).join('')
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    return (titlePattern(node.left) ?? '.+') + (titlePattern(node.right) ?? '.+')
  }
  if (ts.isParenthesizedExpression(node)) return titlePattern(node.expression)
  return undefined
}

/** A test or describe block: its title, and the titles of the describe blocks around it, outermost first. */
interface Titled {
  title: RegExp
  within: RegExp[]
}

/** Every it/test/describe in a test file, titles as anchored patterns. */
function titlesIn (source: string): Titled[] {
  const file = ts.createSourceFile('t.ts', source, ts.ScriptTarget.Latest, true)
  const found: Titled[] = []
  const visit = (node: ts.Node, within: RegExp[]): void => {
    const name = ts.isCallExpression(node) ? rootName(node.expression) : undefined
    if (ts.isCallExpression(node) && node.arguments.length > 0 && TEST_CALLS.has(name ?? '')) {
      const pattern = titlePattern(node.arguments[0])
      if (pattern !== undefined) {
        const title = new RegExp(`^${pattern}$`)
        found.push({ title, within })
        if (name === 'describe') {
          ts.forEachChild(node, child => visit(child, [...within, title]))
          return
        }
      }
    }
    ts.forEachChild(node, child => visit(child, within))
  }
  visit(file, [])
  return found
}

/** Whether a cited title (“title”, or “describe › title” naming blocks around it in order) is in a file. */
function isCited (titles: Titled[], cited: string): boolean {
  const parts = cited.split(' › ')
  const last = parts.pop() as string
  return titles.some(t => {
    if (!t.title.test(last)) return false
    let at = 0
    for (const part of parts) {
      while (at < t.within.length && !t.within[at].test(part)) at++
      if (at === t.within.length) return false
      at++
    }
    return true
  })
}

function testFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []
  )
}

describe('the tests the documents cite', () => {
  const sources = new Map(testFiles(join(ROOT, 'test')).map(f => [relative(ROOT, f), readFileSync(f, 'utf8')] as const))
  const titles = new Map([...sources].map(([f, source]) => [f, titlesIn(source)] as const))
  const citations = CITING_DOCS.flatMap(doc => citationsIn(doc, readFileSync(join(ROOT, doc), 'utf8')))

  it('every cited title is a test of the cited file', () => {
    const missing = citations
      .filter(c => c.file !== null)
      .filter(c => !sources.has(c.file as string) || !isCited(titles.get(c.file as string) ?? [], c.title))
      .map(c => `${c.doc}:${c.line}: ${c.file} “${c.title}”`)
    expect(missing).toEqual([])
    expect(citations.length).toBeGreaterThan(100)
  })

  it('every title in curly quotes follows the test file it is cited from', () => {
    const orphans = citations.filter(c => c.file === null).map(c => `${c.doc}:${c.line}: “${c.title}”`)
    expect(orphans).toEqual([])
  })

  it('the checker itself: finds titles written every way, and refuses a title that is not there', () => {
    const source = [
      "describe('a group', () => {",
      "  it('plain title', () => {})",
      '  it(`on $' + '{store} only`, () => {})',
      "  it.each(['a'])('each %s case', () => {})",
      "  test('split ' + 'title', () => {})",
      '})',
      "describe('another group', () => {})"
    ].join('\n')
    const found = titlesIn(source)
    expect(isCited(found, 'plain title')).toBe(true)
    expect(isCited(found, 'on sqlite only')).toBe(true)
    expect(isCited(found, 'each a case')).toBe(true)
    expect(isCited(found, 'split title')).toBe(true)
    expect(isCited(found, 'a group › plain title')).toBe(true)
    expect(isCited(found, 'plain')).toBe(false)
    expect(isCited(found, 'a group › no such test')).toBe(false)
    expect(isCited(found, 'another group › plain title')).toBe(false)
    expect(isCited(found, 'another group')).toBe(true)
    const doc = 'Tests. `test/x.test.ts`: “plain\ntitle”; `test/y.test.ts` “other”.\n\n- “stray”'
    expect(citationsIn('d.md', doc).map(c => [c.file, c.title])).toEqual([
      ['test/x.test.ts', 'plain title'],
      ['test/y.test.ts', 'other'],
      [null, 'stray']
    ])
  })
})

describe("the README's first five minutes", () => {
  it('step 2 registers an administrator holding every scope, so every README example runs with its token', async () => {
    const { SCOPES } = await import('../src/domain/scopes.ts')
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const step2 = /# 2\. [\s\S]*?client create[\s\S]*?--scopes ([\w:,]+)/.exec(readme)
    expect(step2, 'README step 2 with client create --scopes').not.toBeNull()
    expect(new Set((step2 as RegExpExecArray)[1].split(','))).toEqual(new Set(SCOPES))
  })
})
