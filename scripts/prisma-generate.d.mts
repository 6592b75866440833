// Types for prisma-generate.mjs (plain JavaScript, so that npm's postinstall runs it with node alone).

/** The PostgreSQL schema derived from the one schema source, prisma/schema.prisma. */
export declare function derivePostgresSchema (text: string): string
