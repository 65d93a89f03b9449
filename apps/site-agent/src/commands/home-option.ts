/** The `--home` flag every command that works in an agent home takes. */
export const HOME_OPTION = { home: { type: 'string' } } as const;
export const HOME_HELP = `  --home <dir>              agent home (config, key, state, logs); env CASAM_AGENT_HOME, default ./.casam/site-agent`;
