/* The standard process_* metrics family collector (api_process.c). */
#ifndef CSOCKS_API_PROCESS_H
#define CSOCKS_API_PROCESS_H

/* 0, or -1 when the collector registry is full. */
int api_process_metrics_add(void);
void api_process_metrics_del(void);

#endif
