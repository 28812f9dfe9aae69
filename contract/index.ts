/**
 * nightshift's public contract: what users and scripts rely on (README, "With the Temporal
 * CLI"). Pure definitions, safe to import from workflows, activities and the client alike.
 */
export * from './names';
export * from './search-attributes';
export * from './messages';
export * from './inputs';
export * from './results';
