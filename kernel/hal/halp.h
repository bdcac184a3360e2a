/*
 * halp.h: HAL internals, for the files of kernel/hal/ only: the two
 * console devices behind HalConsolePutChar.
 */
#pragma once
#include "kernel/hal/hal.h"

void HalSerialInit(void);
void HalSerialPutChar(char c);
void HalVgaInit(void);
void HalVgaPutChar(char c);
