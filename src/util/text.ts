/** At most `max` characters of `text`, with an ellipsis where it was cut (for quoting upstream text in messages). */
export const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text)
